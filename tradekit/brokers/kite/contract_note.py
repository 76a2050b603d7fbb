"""The day's charges against Kite's virtual contract note (``POST /charges/orders``).

tradekit books every fill's charges as its share of the day's contract note
(:class:`~tradekit.execution.costs.FillCosts`). At the end of a live day this module asks Kite
what it charges for the same orders and reports every difference, per contract note (segment
group) and component. What Kite returns is per order and unrounded (india.md §9), so the
per-order figures are summed per group first; STT/CTT and stamp duty are then rounded to the
rupee as the contract note does, the rest to the paisa.

Tolerances (the rounding the two sides cannot share): ₹1 for STT/CTT and stamp duty (one
rupee rounding on sums of differently rounded parts), one paisa per order for exchange
charges, SEBI fee and GST (Kite computes them per order, the note on the day's totals), and
nothing for brokerage. DP is posted to the ledger, not the contract note, and RMS square-off
fees are not in it either: both are left out and said so. A difference beyond the tolerance is
journaled (``broker.reconciliation`` with ``kind: contract_note``) and shown in the eod report.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable

import pandas as pd

from tradekit.brokers.base import BrokerTrade
from tradekit.model.charges import Charges
from tradekit.model.enums import Exchange, Product, Side
from tradekit.model.money import ZERO, dec, paise, rupee
from tradekit.store.events import EventType as E

log = logging.getLogger(__name__)

#: Components compared (DP is not on the contract note).
COMPARED = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst")
_KITE = {"brokerage": "brokerage", "stt": "transaction_tax", "exchange_txn": "exchange_turnover_charge",
         "sebi": "sebi_turnover_charge", "stamp_duty": "stamp_duty"}
_TO_RUPEE = ("stt", "stamp_duty")
COLUMNS = ["note", "component", "book", "kite", "difference", "tolerance", "ok"]


@dataclass
class ContractNoteCheck:
    """The comparison of one day: a row per (note, component); ``ok`` when every row is within tolerance."""

    day: date
    orders: int
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def differences(self) -> pd.DataFrame:
        return self.table[~self.table["ok"]] if len(self.table) else self.table

    @property
    def ok(self) -> bool:
        return self.error is None and self.differences.empty

    def summary(self) -> str:
        if self.error:
            return f"charges not reconciled with Kite's contract note for {self.day}: {self.error}"
        if not self.orders:
            return f"no orders filled on {self.day}: no contract note to reconcile"
        d = self.differences
        if d.empty:
            return f"charges of {self.orders} order(s) on {self.day} agree with Kite's contract note"
        return (f"charges differ from Kite's contract note on {self.day}: " + "; ".join(
            f"{r.note} {r.component} book ₹{r.book} vs Kite ₹{r.kite} ({r.difference:+})" for r in d.itertuples()))

    def to_event(self) -> dict:
        return {"kind": "contract_note", "day": self.day.isoformat(), "ok": self.ok, "orders": self.orders,
                "error": self.error, "summary": self.summary(),
                "differences": [{k: str(v) for k, v in r.items()} for r in self.differences.to_dict("records")]}


def _note_key(exchange: str, product: str) -> str:
    prod = Product(product)
    if exchange in ("NSE", "BSE"):
        return f"{exchange} equity-{'intraday' if prod is Product.MIS else 'delivery'}"
    return f"{exchange} {prod.value}"


def day_orders(events: Iterable, day: date) -> tuple[list[BrokerTrade], dict[str, Charges]]:
    """The day's filled orders (one aggregated trade per broker order id) and the book's
    charges per contract-note group, from the journal's fill events."""
    qty: dict[str, int] = defaultdict(int)
    value: dict[str, Decimal] = defaultdict(lambda: ZERO)
    first: dict[str, dict] = {}
    book: dict[str, Charges] = defaultdict(Charges)
    for ev in events:
        if ev.type != E.FILL or ev.day != day:
            continue
        p = ev.payload
        oid = p.get("broker_order_id") or p.get("client_order_id") or p.get("trade_id")
        q = int(p["quantity"])
        qty[oid] += q
        value[oid] += dec(p["price"], "price") * q
        first.setdefault(oid, p)
        book[_note_key(p["exchange"], p["product"])] += Charges.from_dict(p.get("charges"))
    trades = []
    for oid, p in first.items():
        avg = value[oid] / qty[oid]
        trades.append(BrokerTrade(oid, oid, Exchange(p["exchange"]), p["tradingsymbol"], Side(p["side"]), qty[oid],
                                  avg, datetime.fromisoformat(p["fill_time"]) if p.get("fill_time") else datetime.min,
                                  Product(p["product"])))
    return trades, dict(book)


def kite_charges(rows: list[dict]) -> dict[str, dict[str, Decimal]]:
    """Kite's per-order charges summed per contract-note group and component (unrounded)."""
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for r in rows:
        c = r.get("charges") or {}
        g = out[_note_key(r["exchange"], r["product"])]
        for comp, name in _KITE.items():
            g[comp] += dec(c.get(name, 0) or 0, name)
        gst = c.get("gst") or {}
        g["gst"] += dec(gst.get("total", 0) if isinstance(gst, dict) else gst, "gst")
        g["orders"] += 1
    return out


def compare(book: dict[str, Charges], kite: dict[str, dict[str, Decimal]]) -> pd.DataFrame:
    rows = []
    for note in sorted(set(book) | set(kite)):
        b = book.get(note, Charges())
        k = kite.get(note, {})
        n = int(k.get("orders", 0)) or 1
        for comp in COMPARED:
            kv = k.get(comp, ZERO)
            kv = rupee(paise(kv)) if comp in _TO_RUPEE else paise(kv)
            bv = paise(getattr(b, comp))
            tol = Decimal(1) if comp in _TO_RUPEE else (ZERO if comp == "brokerage" else Decimal("0.01") * n)
            diff = bv - kv
            rows.append({"note": note, "component": comp, "book": bv, "kite": kv, "difference": diff,
                         "tolerance": tol, "ok": abs(diff) <= tol})
    return pd.DataFrame(rows, columns=COLUMNS)


def reconcile_contract_note(broker, events: Iterable, day: date) -> ContractNoteCheck:
    """Compare the day's booked charges (``events``: the journal's) with Kite's virtual
    contract note for the same orders, asked through ``broker.contract_note``."""
    events = list(events)
    trades, book = day_orders(events, day)
    notes = ["DP charges and RMS square-off fees are posted to the ledger, not the contract note: not compared."]
    if not trades:
        return ContractNoteCheck(day, 0, pd.DataFrame(columns=COLUMNS), notes)
    try:
        rows = broker.contract_note(trades)
    except Exception as e:  # noqa: BLE001 - the check says it could not run, the day's report goes on
        log.warning("Kite's contract note for %s could not be fetched: %s", day, e)
        return ContractNoteCheck(day, len(trades), pd.DataFrame(columns=COLUMNS), notes, error=f"{type(e).__name__}: {e}")
    return ContractNoteCheck(day, len(trades), compare(book, kite_charges(rows)), notes)


def journal_check(journal, check: ContractNoteCheck):
    """Journal the result (``broker.reconciliation``, ``kind: contract_note``)."""
    return journal.append(E.RECONCILIATION, check.to_event())
