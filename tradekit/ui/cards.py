"""The pieces of an approval card built around risk, and the page's liveness and bad-file cards.

Pure functions from a :class:`~tradekit.execution.approval.Proposal` (and the queue's book) to
HTML: the coloured side chip, ``20 × ₹1,025.90 = ₹20,518``, live price and drift, stop, ₹ at
risk and % of capital, position before and after, margin after, gate checks in words, the TTL
bar in real seconds, the RUNNING / NO SESSION badge and red cards for rejected signal files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from tradekit.model.money import fmt_inr
from tradekit.ui._common import esc, inr

# The gate's check codes in words (tradekit/risk/gate.py).
CHECK_WORDS = {
    "STATE": "trading state", "TICK": "price on the tick size", "LOT": "quantity in whole lots",
    "BAND": "price inside the circuit band", "FREEZE": "below the exchange freeze quantity",
    "MARKET_PROTECTION": "market protection", "CNC_HOLDINGS": "shares held for a delivery sell",
    "MIS_CUTOFF": "before the intraday (MIS) cut-off", "FUNDS": "enough funds", "FAT_FINGER": "price near the market",
    "RESTRICTED": "not on the restricted list", "FNO_BAN": "not in the F&O ban", "RATE": "order rate",
    "VAR": "value at risk", "ALGO_ID": "exchange algo ID", "APPROVAL_MODE": "approval", "REDUCE_ONLY": "reduce-only",
    "NO_PRICE": "a price to check against", "ORDER_VALUE": "order value limit", "ORDER_QTY": "order quantity limit",
    "POSITION_VALUE": "position value limit", "POSITION_QTY": "position size limit",
    "CONCENTRATION": "concentration in one symbol", "SECTOR": "sector exposure", "GROSS": "gross exposure",
    "NET": "net exposure", "OPEN_ORDERS": "open orders", "DAILY_LOSS": "daily loss limit",
}

# What a trading state's cause means, for the badge.
CAUSE_WORDS = {"kill_switch": "kill switch", "unlock": "unlocked", "config": "configured",
               "journal": "restored from the journal"}


def check_words(code: str | None) -> str:
    """``"FAT_FINGER"`` → ``"price near the market"`` (unknown codes in lower case words)."""
    c = str(code or "")
    return CHECK_WORDS.get(c, c.replace("_", " ").lower())


def side_chip(side: str) -> str:
    s = esc(side).upper()
    return f'<span class="tk-chip tk-chip-{s}">{s}</span>'


def _num(x) -> Decimal | None:
    try:
        return None if x in (None, "") else Decimal(str(x))
    except ArithmeticError:
        return None


def stop_of(p) -> Decimal | None:
    """The proposal's stop: its bracket's stop, else the signal's ``stop_loss``/``stop``/sizing stop."""
    b = getattr(p, "bracket", None) or {}
    if _num(b.get("stop")) is not None:
        return _num(b.get("stop"))
    s = p.signal or {}
    for k in ("stop_loss", "stop"):
        v = _num(s.get(k))
        if v is not None:
            return v
    sizing = s.get("sizing") if isinstance(s.get("sizing"), dict) else {}
    v = _num(sizing.get("stop"))
    if v is not None:
        return v
    if p.order_type in ("SL", "SL-M") and p.trigger_price is not None and p.side == "SELL":
        return None  # an SL sell is the stop itself, not a stop for this entry
    return None


@dataclass(frozen=True)
class Risk:
    """A proposal's risk in rupees, as a trader reads it."""

    entry: Decimal | None  # the limit price, else the live price, else the price when proposed
    stop: Decimal | None
    at_risk: Decimal | None
    pct_capital: Decimal | None
    position_before: int
    position_after: int
    margin_after: Decimal | None  # free funds once the margin is blocked


def risk_of(p, book, capital: Decimal | None, available: Decimal | None) -> Risk:
    entry = p.price if p.price is not None else (p.last_price if p.last_price is not None else p.price_at_proposal)
    stop = stop_of(p)
    at_risk = None
    if entry is not None and stop is not None:
        at_risk = abs(entry - stop) * p.quantity
    pct = None if at_risk is None or not capital else at_risk / capital * 100
    before = 0
    try:
        before = int(book.net_quantity(p.exchange, p.tradingsymbol))
    except Exception:  # noqa: BLE001 - a card shows what it can
        before = 0
    after = before + (p.quantity if p.side == "BUY" else -p.quantity)
    margin_after = None if available is None or p.margin is None else available - p.margin
    return Risk(entry, stop, at_risk, pct, before, after, margin_after)


def money_line(p, entry: Decimal | None) -> str:
    """``20 × ₹1,025.90 = ₹20,518`` (the price a market order is likely to fill at, from the live price)."""
    if entry is None:
        return f"{p.quantity:,} × market price (no price yet)"
    return f"{p.quantity:,} × ₹{fmt_inr(entry, 2)} = ₹{fmt_inr(entry * p.quantity, 0)}"


def risk_html(p, r: Risk, capital: Decimal | None = None) -> str:
    head = (f'<div class="tk-headline">{side_chip(p.side)} <b class="tk-sym">{esc(p.title.split(" ", 1)[-1])}</b>'
            f' &nbsp; <span class="tk-money-line">{esc(money_line(p, r.entry))}</span></div>')
    bits = []
    if p.last_price is not None:
        d = p.drift_pct
        cls = "" if d is None else (" tk-neg" if d > 0 else " tk-pos")
        bits.append(f'<span class="tk-live">live <b>₹{fmt_inr(p.last_price, 2)}</b>'
                    + ("" if d is None else f' <span class="tk-drift{cls}">{d:+.2f} % since proposed</span>')
                    + "</span>")
    else:
        bits.append('<span class="tk-live tk-meta">no live price yet</span>')
    if r.stop is not None:
        pct = "" if r.pct_capital is None else f" = {r.pct_capital:.2f} % of capital"
        bits.append(f'<span class="tk-stop">stop ₹{fmt_inr(r.stop, 2)} · <b>₹{fmt_inr(r.at_risk, 0)} at risk</b>'
                    f'{esc(pct)}</span>')
    else:
        whole = "" if r.entry is None or not capital else f" ({r.entry * p.quantity / capital * 100:.2f} % of capital)"
        bits.append(f'<span class="tk-stop tk-warn">no stop: the whole ₹ value is at risk{esc(whole)}</span>')
    bits.append(f'<span class="tk-position">position {r.position_before:+,} → <b>{r.position_after:+,}</b></span>')
    if r.margin_after is not None:
        cls = " tk-neg" if r.margin_after < 0 else ""
        bits.append(f'<span class="tk-margin-after{cls}">margin {inr(p.margin)} · free after <b>{inr(r.margin_after)}</b>'
                    "</span>")
    out = head + '<div class="tk-riskline">' + " · ".join(bits) + "</div>"
    if getattr(p, "basket", None):  # issue 21: a basket's head leg shows the whole basket (tradekit/ui/basket_card.py)
        from tradekit.ui.basket_card import basket_html

        out += basket_html(p.basket)
    return out


def checks_rows(p) -> list[dict]:
    """The gate's checks in words: ``{check, "", result}`` rows (failed ones first)."""
    rows = []
    for c in sorted(p.checks, key=lambda c: bool(c.get("ok"))):
        res = c.get("message") or _value_limit(c) or ("ok" if c.get("ok") else "failed")
        rows.append({"check": check_words(c.get("code")), "": "✓" if c.get("ok") else "✗", "result": res})
    return rows


def _value_limit(c: dict) -> str:
    v, lim = c.get("value"), c.get("limit")
    if v is None:
        return ""
    fmt = (lambda x: f"{x:,.2f}".rstrip("0").rstrip(".")) if isinstance(v, float) else str
    return fmt(v) if lim is None else f"{fmt(v)} (limit {fmt(lim)})"


# -- time ------------------------------------------------------------------------------------------
def ttl_real(p, session_now: datetime | None, speed: float | None) -> tuple[float | None, float | None]:
    """(real seconds left, real seconds of the whole window) of a pending proposal's TTL."""
    if p.expires_at is None or session_now is None:
        return None, None
    sp = speed or 1.0
    left = (p.expires_at - session_now).total_seconds() / sp
    total = (p.ttl_seconds / sp) if p.ttl_seconds else None
    return left, total


def ttl_html(left: float | None, total: float | None, *, running: bool, expires_at: str) -> str:
    """``TTL 0:47 left`` in real seconds with a bar: green, amber under 50 %, red under 20 %."""
    if not running:
        return ('<span class="tk-ttl-text tk-warn">no session running: the TTL is not counting '
                f'(expires at session time {esc(expires_at)})</span>')
    if left is None:
        return '<span class="tk-meta">no expiry</span>'
    if left <= 0:
        return f'<span class="tk-ttl-text tk-fail">TTL passed (session time {esc(expires_at)}): the session will expire it</span>'
    frac = 1.0 if not total else max(0.0, min(1.0, left / total))
    level = "red" if frac < 0.2 else ("amber" if frac < 0.5 else "green")
    m, s = divmod(int(left + 0.999), 60)
    return (f'<span class="tk-ttl-text tk-ttl-{level}">TTL {m}:{s:02d} left (real time)</span>'
            f'<div class="tk-ttl-bar"><div class="tk-ttl-fill tk-ttl-{level}" style="width:{frac * 100:.1f}%"></div></div>')


# -- liveness --------------------------------------------------------------------------------------
def liveness_html(hb, clock_text: str) -> str:
    if not hb.alive:
        why = f" — {hb.why}" if hb.why else ""
        return f'<span class="tk-live-badge tk-no-session" title="{esc(hb.why)}">NO SESSION</span><span class="tk-meta">{esc(why)}</span>'
    sp = "" if hb.speed in (None, 1.0) else f" ×{hb.speed:g}"
    via = "" if hb.source == "heartbeat file" else f' <span class="tk-meta">({esc(hb.source)})</span>'
    return f'<span class="tk-live-badge tk-running">RUNNING {esc(clock_text)}{esc(sp)}</span>{via}'


def state_badge(state: str, change: dict | None) -> str:
    """``REDUCING — daily loss: ...`` with the cause of the state (from its journal event)."""
    text = state
    if state != "ACTIVE" and change:
        cause = CAUSE_WORDS.get(change.get("cause"), str(change.get("cause") or "").replace("_", " "))
        who = change.get("by")
        text += f" — {cause}" + (f" by {who}" if who else "") + (f": {change.get('reason')}" if change.get("reason") else "")
    return f'<span class="tk-badge tk-state-{esc(state)}">{esc(text)}</span>'


# -- bad signal files ------------------------------------------------------------------------------
def rejected_files(inbox: Path, limit: int = 10) -> list[tuple[str, float, str]]:
    """The newest files of ``<inbox>/rejected/``: ``(stored name, mtime, reason)``."""
    folder = Path(inbox) / "rejected"
    try:
        reasons = [p for p in folder.iterdir() if p.name.endswith(".reason.txt")]
    except FileNotFoundError:
        return []
    out = []
    for p in reasons:
        try:
            out.append((p.name[: -len(".reason.txt")], p.stat().st_mtime, p.read_text(errors="replace")))
        except OSError:
            continue
    out.sort(key=lambda x: x[1], reverse=True)
    return out[:limit]


def rejected_card_html(name: str, mtime: float, reason: str) -> str:
    from tradekit.ui._common import hhmmss
    from datetime import timezone

    lines = reason.strip().splitlines()
    first = lines[0] if lines else "rejected"
    rest = "".join(f"<li>{esc(x)}</li>" for x in lines[1:6])
    shown = name.split("__", 1)[-1]
    return (f'<div class="tk-card tk-bad-file"><div class="tk-title">✗ signal file rejected: {esc(shown)}</div>'
            f'<div>{esc(first)}</div>' + (f"<ul>{rest}</ul>" if rest else "")
            + f'<div class="tk-meta">at {hhmmss(datetime.fromtimestamp(mtime, timezone.utc))} · '
              f'kept as rejected/{esc(name)} with its reason; fix it and drop it again</div></div>')


CARD_STYLE = """
<style>
.tk-root .tk-chip { display:inline-block; padding:1px 8px; border-radius:4px; color:#fff; font-weight:700; }
.tk-root .tk-chip-BUY { background:#1e8e3e; } .tk-root .tk-chip-SELL { background:#d93025; }
.tk-root .tk-headline { font-size:15px; margin:2px 0; } .tk-root .tk-money-line { font-weight:600; margin-left:6px; }
.tk-root .tk-riskline { margin:2px 0; }
.tk-root .tk-ttl-bar { height:6px; width:240px; background:#eee; border-radius:3px; display:inline-block;
  vertical-align:middle; margin-left:8px; }
.tk-root .tk-ttl-fill { height:6px; border-radius:3px; transition: width 0.9s linear; }
.tk-root .tk-ttl-fill.tk-ttl-green { background:#1e8e3e; } .tk-root .tk-ttl-fill.tk-ttl-amber { background:#f29900; }
.tk-root .tk-ttl-fill.tk-ttl-red { background:#d93025; }
.tk-root .tk-ttl-text.tk-ttl-amber { color:#b06000; font-weight:600; } .tk-root .tk-ttl-text.tk-ttl-red { color:#c5221f; font-weight:700; }
.tk-root .tk-live-badge { padding:2px 10px; border-radius:10px; font-weight:700; }
.tk-root .tk-running { background:#e6f4ea; color:#137333; }
.tk-root .tk-no-session { background:#d93025; color:#fff; }
.tk-root .tk-bad-file { border-color:#d93025; background:#fce8e6; color:#a50e0e; }
.tk-root .tk-card.tk-decided { padding:2px 12px; margin:2px 0; }
.tk-root .tk-card.tk-decided .tk-card-details, .tk-root .tk-card.tk-decided .tk-ttl { display:none; }
.tk-root .tk-card.tk-decided .tk-status-approved, .tk-root .tk-card.tk-decided .tk-status-modified { color:#137333; }
.tk-root .tk-card.tk-decided .tk-status-rejected, .tk-root .tk-card.tk-decided .tk-status-denied { color:#c5221f; }
.tk-root .tk-card.tk-decided .tk-status-expired { color:#80868b; }
.tk-root .tk-kill-path { font-weight:600; }
</style>
"""


class PageLiveness:
    """The RUNNING / NO SESSION badge and the kernel beat every page carries.

    :meth:`update` reads the session's heartbeat (:func:`tradekit.runs.heartbeat.liveness`),
    keeps the page clock (from the heartbeat only, never backwards) and bumps the hidden
    ``.tk-kernel-beat`` widget the page's script watches (:mod:`tradekit.ui.page`).
    """

    def __init__(self) -> None:
        import ipywidgets as w

        self.badge = w.HTML()
        self.badge.add_class("tk-liveness")
        self.beat = w.HTML()
        self.beat.add_class("tk-kernel-beat")
        self.heartbeat = None
        self.clock: datetime | None = None
        self._read_at = 0.0

    def update(self, config, engine=None, *, every: float = 0.25) -> None:
        import time

        from tradekit.runs.heartbeat import liveness
        from tradekit.ui._common import hhmmss, set_if_changed

        mono = time.monotonic()
        set_if_changed(self.beat, value=str(int(mono)))
        data_dir = getattr(config, "data_dir", None)
        if data_dir is None:
            return
        # the file is cheap to read; the journal lease (the fallback) is a query: not every pass
        use_engine = engine if mono - self._read_at >= every else None
        if use_engine is not None:
            self._read_at = mono
        hb = liveness(data_dir, use_engine)
        if use_engine is None and not hb.alive and hb.source == "none" and self.heartbeat is not None \
                and self.heartbeat.source == "journal lease" and self.heartbeat.alive:
            hb = self.heartbeat  # keep the lease's answer until the next query
        self.heartbeat = hb
        now = hb.clock_now() if hb.alive else None
        if now is not None and (self.clock is None or now >= self.clock):
            self.clock = now  # the page clock never jumps backwards
        text = hhmmss(self.clock) if hb.alive and self.clock is not None else ""
        set_if_changed(self.badge, value=liveness_html(hb, text))
