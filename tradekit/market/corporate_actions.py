"""Corporate actions: splits, bonuses and cash dividends, imported from a file and applied at their
ex-dates (india.md §8).

Two file formats are read:

- the exchange's corporate-actions CSV (NSE's export: ``SYMBOL``, ``SERIES``, ``PURPOSE``,
  ``EX-DATE`` ...; purposes such as ``Bonus 1:1``, ``Face Value Split (Sub-Division) - From Rs 10/-
  Per Share To Rs 2/- Per Share``, ``Interim Dividend - Rs 6.50 Per Share``). Purposes tradekit
  does not apply automatically (rights, buy-backs, meetings) are listed as skipped, with the row;
- a simple CSV: ``symbol,ex_date,kind,ratio,amount`` (``symbol`` as ``NSE:INFY`` or ``INFY``;
  ``kind`` split with ``ratio`` n or ``1:n``; bonus with ``ratio`` ``a:b``, a new per b held;
  dividend with ``amount`` in rupees per share).

Imported actions are kept in ``<data_dir>/corporate_actions.json`` with their source (file name,
sha256, import time, a free text). A running session applies each action once, at the start of
its ex-date (:func:`apply_due`): positions' quantities and average prices (split, bonus) or cash
(dividend) through a journaled ``position.adjusted`` event, the paper broker's books the same way,
and for splits and bonuses the symbol's open orders are cancelled (the exchange purges them and
Zerodha disables GTTs on a bonus or split). Price series that are not adjusted can be back-adjusted
with :func:`adjust_bars` (replays, VaR) — apply an action to positions or to prices, never both.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from tradekit.clock import IST
from tradekit.errors import DataError

__all__ = ["CorporateAction", "CorporateActionStore", "ImportResult", "adjust_bars", "apply_due", "parse_actions"]

KINDS = ("split", "bonus", "dividend")
_MAX_FACTOR = Decimal(1000)  # a 1:1000 split is already far beyond anything listed in India


@dataclass(frozen=True)
class CorporateAction:
    exchange: str
    tradingsymbol: str
    ex_date: date
    kind: str  # split | bonus | dividend
    ratio: Decimal | None = None  # split: new shares per old share (10 -> 2 face value: 5)
    new: int | None = None  # bonus: a new ...
    held: int | None = None  # ... per b held
    per_share: Decimal | None = None  # dividend: rupees per share
    purpose: str = ""  # the exchange's text, when imported from its file

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def id(self) -> str:
        what = {"split": f"x{self.ratio}", "bonus": f"{self.new}:{self.held}", "dividend": f"rs{self.per_share}"}[self.kind]
        return f"{self.key}:{self.ex_date.isoformat()}:{self.kind}:{what}"

    @property
    def factor(self) -> Decimal | None:
        """Shares after ÷ shares before (split and bonus); None for a dividend."""
        if self.kind == "split":
            return self.ratio
        if self.kind == "bonus":
            return Decimal(self.new + self.held) / Decimal(self.held)
        return None

    def params(self) -> dict:
        """The keyword arguments of :meth:`tradekit.session.Session.corporate_action`."""
        if self.kind == "split":
            return {"ratio": self.ratio}
        if self.kind == "bonus":
            return {"new": self.new, "held": self.held}
        return {"per_share": self.per_share}

    def describe(self) -> str:
        what = {"split": f"split 1:{self.ratio}", "bonus": f"bonus {self.new}:{self.held}",
                "dividend": f"dividend ₹{self.per_share}/share"}[self.kind]
        return f"{self.key} {what}, ex-date {self.ex_date:%Y-%m-%d}"

    def to_json(self) -> dict:
        d = asdict(self)
        d["ex_date"] = self.ex_date.isoformat()
        for k in ("ratio", "per_share"):
            d[k] = None if d[k] is None else str(d[k])
        return d

    @classmethod
    def from_json(cls, d: dict) -> "CorporateAction":
        return cls(exchange=d["exchange"], tradingsymbol=d["tradingsymbol"], ex_date=date.fromisoformat(d["ex_date"]),
                   kind=d["kind"], ratio=None if d.get("ratio") is None else Decimal(d["ratio"]), new=d.get("new"),
                   held=d.get("held"), per_share=None if d.get("per_share") is None else Decimal(d["per_share"]),
                   purpose=d.get("purpose", ""))


@dataclass
class ImportResult:
    actions: list[CorporateAction] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (row, why): purposes not applied automatically
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row, what is wrong)
    format: str = ""


# -- parsing -----------------------------------------------------------------------------------------
def _norm(h: str) -> str:
    return re.sub(r"[^a-z0-9]", "", h.lower())


_DATE_FORMATS = ("%Y-%m-%d", "%d-%b-%Y", "%d-%B-%Y", "%d/%m/%Y", "%d-%m-%Y", "%d %b %Y", "%d.%m.%Y")


def _date(s: str, what: str) -> date:
    s = s.strip()
    for f in _DATE_FORMATS:
        try:
            return datetime.strptime(s, f).date()
        except ValueError:
            continue
    raise ValueError(f"{what} {s!r} is not a date (e.g. 2024-10-28 or 28-Oct-2024)")


def _dec(s: str, what: str) -> Decimal:
    try:
        v = Decimal(s.strip().replace(",", ""))
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{what} {s!r} is not a number") from None
    if not v.is_finite() or v <= 0:
        raise ValueError(f"{what} {s!r} must be a positive number")
    return v


def _ratio(s: str, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d{1,6})\s*[:/]\s*(\d{1,6})\s*", s or "")
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise ValueError(f"{what} {s!r} is not a ratio like 1:2")
    return int(m.group(1)), int(m.group(2))


def _symbol(s: str, exchange: str = "") -> tuple[str, str]:
    s = (s or "").strip().upper()
    ex, _, sym = s.rpartition(":")
    ex = (ex or exchange or "NSE").strip().upper()
    if ex not in ("NSE", "BSE"):
        raise ValueError(f"exchange {ex!r} is not NSE or BSE")
    if not re.fullmatch(r"[A-Z0-9&\-_.]{1,40}", sym):
        raise ValueError(f"symbol {s!r} is not a trading symbol")
    return ex, sym


_RS = r"(?:rs\.?|re\.?|inr|₹)\s*([0-9]+(?:\.[0-9]+)?)"


def _from_purpose(purpose: str) -> tuple[str, dict] | None:
    """(kind, params) for a purpose tradekit applies; None for one it does not."""
    p = " ".join(purpose.split()).lower()
    if re.search(r"\brights?\b|buy ?back|demerger|amalgamation|capital reduction|consolidation", p):
        return None
    m = re.search(r"\bbonus\b[^0-9]*(\d+)\s*:\s*(\d+)", p)
    if m:
        return "bonus", {"new": int(m.group(1)), "held": int(m.group(2))}
    if "split" in p or "sub-division" in p or "sub division" in p:
        m = re.search(r"from\s+" + _RS + r".*?to\s+" + _RS, p)
        if not m:
            raise ValueError(f"a split without 'From Rs X ... To Rs Y' face values: {purpose!r}")
        old, new = Decimal(m.group(1)), Decimal(m.group(2))
        if new <= 0 or new >= old:
            raise ValueError(f"a split from face value {old} to {new} does not sub-divide: {purpose!r}")
        return "split", {"ratio": old / new}
    amounts = re.findall(r"dividend[^;]*?" + _RS, p)
    if amounts:
        return "dividend", {"per_share": sum((Decimal(a) for a in amounts), Decimal(0))}
    return None


def _sniff(text: str) -> list[dict]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline=""), dialect=dialect))
    except csv.Error as e:
        raise DataError(f"the corporate-actions file is not readable CSV: {e}") from None
    return [{_norm(k or ""): (v or "").strip() if isinstance(v, str) else "" for k, v in r.items()} for r in rows]


def parse_actions(source: str | bytes | Path) -> ImportResult:
    """Parse a corporate-actions file (NSE's CSV or the simple one). Never raises on a bad row: each
    lands in ``errors`` with its row number (1 = the first data row); the caller decides."""
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and len(source) < 4096
                                     and Path(source).exists()):
        data = Path(source).read_bytes()
    else:
        data = source.encode() if isinstance(source, str) else source
    if len(data) > 50_000_000:
        raise DataError("the corporate-actions file is larger than 50 MB; split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "\x00" in text:
        raise DataError("the corporate-actions file is binary, not CSV")
    rows = _sniff(text)
    out = ImportResult()
    if not rows:
        raise DataError("the corporate-actions file has no rows under a header")
    cols = set(rows[0])
    if "purpose" in cols and ("exdate" in cols or "exdt" in cols):
        out.format = "exchange"
        for i, r in enumerate(rows, 1):
            try:
                series = r.get("series", "EQ").upper()
                if series and series not in ("EQ", "BE", "BZ", "SM", "ST", "A", "B", "T", "X", "XT", "Z"):
                    out.skipped.append((i, f"series {series} is not an equity series"))
                    continue
                exd = r.get("exdate") or r.get("exdt") or ""
                if not exd or exd == "-":
                    out.skipped.append((i, "no ex-date"))
                    continue
                ex, sym = _symbol(r.get("symbol", ""), r.get("exchange", ""))
                what = _from_purpose(r.get("purpose", ""))
                if what is None:
                    out.skipped.append((i, f"{sym}: {r.get('purpose', '')!r} is not applied automatically"))
                    continue
                out.actions.append(_make(ex, sym, _date(exd, "ex-date"), what[0], what[1], r.get("purpose", "")))
            except ValueError as e:
                out.errors.append((i, str(e)))
    elif {"symbol", "exdate", "kind"} <= cols:
        out.format = "simple"
        for i, r in enumerate(rows, 1):
            try:
                ex, sym = _symbol(r["symbol"], r.get("exchange", ""))
                kind = r["kind"].strip().lower()
                if kind not in KINDS:
                    raise ValueError(f"kind {r['kind']!r} is not split, bonus or dividend")
                if kind == "split":
                    raw = r.get("ratio", "")
                    if ":" in raw or "/" in raw:
                        a, b = _ratio(raw, "ratio")
                        if a != 1:
                            raise ValueError(f"a split ratio is 1:n (n new shares per share), not {raw!r}")
                        params = {"ratio": Decimal(b)}
                    else:
                        params = {"ratio": _dec(raw, "ratio")}
                elif kind == "bonus":
                    a, b = _ratio(r.get("ratio", ""), "ratio")
                    params = {"new": a, "held": b}
                else:
                    params = {"per_share": _dec(r.get("amount", ""), "amount")}
                out.actions.append(_make(ex, sym, _date(r["exdate"], "ex_date"), kind, params, ""))
            except ValueError as e:
                out.errors.append((i, str(e)))
    else:
        raise DataError("not a corporate-actions file: expected the exchange's columns (SYMBOL, PURPOSE, EX-DATE) "
                        "or symbol,ex_date,kind,ratio,amount; found " + ", ".join(sorted(cols)[:12]))
    return out


def _make(ex: str, sym: str, exd: date, kind: str, params: dict, purpose: str) -> CorporateAction:
    a = CorporateAction(ex, sym, exd, kind, purpose=purpose, **params)
    if kind in ("split", "bonus"):
        f = a.factor
        if f is None or f <= 1 or f > _MAX_FACTOR:
            raise ValueError(f"{sym}: a {kind} factor of {f} is not between 1 and {_MAX_FACTOR}")
        if kind == "split" and f != f.to_integral_value():
            raise ValueError(f"{sym}: a split into {f} shares per share is not whole")
    elif a.per_share is not None and a.per_share > Decimal(100_000):
        raise ValueError(f"{sym}: a dividend of ₹{a.per_share} per share is not plausible")
    if not (date(1990, 1, 1) <= exd <= date(2100, 12, 31)):
        raise ValueError(f"{sym}: ex-date {exd} is out of range")
    return a


# -- the store ---------------------------------------------------------------------------------------------
class CorporateActionStore:
    """The imported actions of a data directory (``corporate_actions.json``), with their sources."""

    NAME = "corporate_actions.json"

    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir) / self.NAME

    def load(self) -> tuple[list[CorporateAction], list[dict]]:
        if not self.path.exists():
            return [], []
        try:
            d = json.loads(self.path.read_text(encoding="utf-8"))
            return [CorporateAction.from_json(x) for x in d.get("actions", [])], list(d.get("sources", []))
        except (ValueError, KeyError, TypeError, InvalidOperation) as e:
            raise DataError(f"{self.path}: cannot be read ({e}); re-import the corporate-actions files") from None

    def actions(self) -> list[CorporateAction]:
        return self.load()[0]

    def add(self, actions: Iterable[CorporateAction], *, source: str, sha256: str, note: str = "") -> tuple[int, int]:
        """Keep ``actions`` (new ones only); return (added, already known). Written atomically."""
        actions = list(actions)
        have, sources = self.load()
        known = {a.id for a in have}
        new = []
        for a in actions:
            if a.id not in known:
                known.add(a.id)
                new.append(a)
        sources.append({"file": source, "sha256": sha256, "imported_at": datetime.now(IST).isoformat(timespec="seconds"),
                        "note": note, "actions": len(new)})
        all_ = sorted([*have, *new], key=lambda a: (a.ex_date, a.key, a.kind))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"actions": [a.to_json() for a in all_], "sources": sources}, indent=1),
                       encoding="utf-8")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        return len(new), len(actions) - len(new)


def import_file(path: str | Path, data_dir: str | Path, *, note: str = "") -> tuple[ImportResult, int, int]:
    """Parse ``path`` and keep its actions in ``data_dir``. A file with any bad row is refused whole
    (nothing written), with every bad row named."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no file {p}")
    raw = p.read_bytes()
    res = parse_actions(raw)
    if res.errors:
        lines = "; ".join(f"row {i}: {m}" for i, m in res.errors[:5])
        more = f" (and {len(res.errors) - 5} more)" if len(res.errors) > 5 else ""
        raise DataError(f"{p.name}: {len(res.errors)} bad row(s), nothing imported: {lines}{more}")
    added, known = CorporateActionStore(data_dir).add(res.actions, source=p.name,
                                                      sha256=hashlib.sha256(raw).hexdigest(), note=note)
    return res, added, known


# -- applying -------------------------------------------------------------------------------------------------
def applied_ids(events: Iterable) -> set[str]:
    return {e.payload.get("action_id") for e in events if e.payload.get("action_id")}


def apply_due(session, day: date, actions: Iterable[CorporateAction] | None = None) -> list[CorporateAction]:
    """Apply every action with ``first day <= ex-date <= day`` not applied yet (once: the journal
    records its id), and cancel the symbol's open orders on a split or bonus. Returns what was applied."""
    from tradekit.store.events import EventType as E

    if actions is None:
        actions = CorporateActionStore(session.config.data_dir).actions()
    actions = [a for a in actions if a.ex_date <= day]
    if not actions:
        return []
    # what the journal already showed this session: its first day and the ids applied. The journal only
    # grows, so an id seen applied stays applied and the first day never moves: when every due action is
    # one of those, nothing is left to apply and the journal is not read again (every day roll of a replay
    # with an imported file would read it twice)
    known = getattr(session, "_ca_known", None)
    if known is not None and all(a.id in known[1] or (known[0] is not None and a.ex_date < known[0]) for a in actions):
        return []
    first = None
    from tradekit.store.snapshot import history  # a session's start snapshot keeps these events, then the journal

    for ev in history(session.journal, (E.SESSION_STARTED,)):
        first = ev.day
        break
    done = applied_ids(history(session.journal, (E.POSITION_ADJUSTED,)))
    out = []
    for a in sorted(actions, key=lambda a: (a.ex_date, a.key)):
        if a.id in done or (first is not None and a.ex_date < first):
            continue
        if a.kind in ("split", "bonus"):
            for o in list(session.book.open_orders()):
                if o.request.key == a.key:
                    try:
                        session.oms.cancel(o.client_order_id, reason=f"corporate action: {a.describe()}",
                                           source="corporate_action")
                    except Exception as e:  # noqa: BLE001 - a final order in between: nothing to cancel
                        session._emit(E.NOTE, {"text": f"{a.describe()}: open order {o.client_order_id} not cancelled: {e}"})
        session.corporate_action(a.kind, a.exchange, a.tradingsymbol, action_id=a.id, ex_date=a.ex_date.isoformat(),
                                 **a.params())
        out.append(a)
    try:
        session._ca_known = (first, done | {a.id for a in out})
    except AttributeError:  # a session object that takes no attributes: the journal is read each time
        pass
    return out


def adjust_bars(bars: pd.DataFrame, key: str, actions: Iterable[CorporateAction]) -> pd.DataFrame:
    """Back-adjust unadjusted bars of ``key`` for its splits and bonuses (prices before each ex-date
    ÷ factor, volumes × factor), as the exchange's base price does. Dividends are not adjusted
    (india.md §8: no cash base-price adjustment). Never apply to bars that are already adjusted."""
    acts = [a for a in actions if a.key == key and a.factor is not None]
    if not acts or not len(bars):
        return bars
    out = bars.copy()
    days = pd.DatetimeIndex(out.index).tz_convert(IST).normalize() if out.index.tz is not None else out.index.normalize()
    for a in acts:
        before = days < pd.Timestamp(a.ex_date, tz=days.tz) if days.tz is not None else days < pd.Timestamp(a.ex_date)
        f = float(a.factor)
        for c in ("open", "high", "low", "close"):
            if c in out.columns:
                out.loc[before, c] = out.loc[before, c] / f
        if "volume" in out.columns:
            out.loc[before, "volume"] = (out.loc[before, "volume"] * f).round().astype(out["volume"].dtype)
    return out


# -- the report's line --------------------------------------------------------------------------------------------
def _report_section(rep):
    """The corporate actions applied in the report's window: one row each."""
    from tradekit.monitoring.report import ReportSection

    rows = []
    for ev in rep.events:
        p = ev.payload
        if ev.type != "position.adjusted" or not p.get("action_id") or (rep.day is not None and ev.day != rep.day):
            continue
        what = {"split": f"split 1:{p.get('ratio')}", "bonus": f"bonus {p.get('new')}:{p.get('held')}",
                "dividend": f"dividend ₹{p.get('per_share')}/share"}.get(p.get("kind"), p.get("kind"))
        rows.append({"ex-date": p.get("ex_date"), "symbol": f"{p.get('exchange')}:{p.get('tradingsymbol')}",
                     "action": what, "applied at": ev.time.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")})
    if not rows:
        return None
    return ReportSection("Corporate actions applied", {"": pd.DataFrame(rows)},
                         text="Quantities and average prices (split, bonus) or cash (dividend) were adjusted at the "
                              "ex-date; the symbol's open orders were cancelled on a split or bonus.")


def _register() -> None:
    # the light registry: importing this module (every session does) loads no report and no matplotlib
    from tradekit.monitoring.sections import register_section

    register_section(_report_section)


_register()
