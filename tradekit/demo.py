"""The demo: a small paper flow through the journal on bundled real NSE bars.

An SMA(10/30) crossover on RELIANCE's 1-minute bars of 2016-08-16 emits signals; each becomes
an order that is created, auto-approved, submitted, acknowledged and filled at the *next*
bar's open; every step is a journal event; the audit chain is verified at the end and the
day's anchor hash printed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tradekit.clock import SimClock
from tradekit.config.schema import TradekitConfig
from tradekit.data.bars import load_bars, sample_path
from tradekit.model.money import fmt_inr
from tradekit.model.order import ClientOrderIdGenerator, OrderRequest
from tradekit.store import Book, EventType as E, Journal, make_engine, sqlite_url, verify

DEMO_SYMBOL = "RELIANCE"
DEMO_DAY = "2016-08-16"


@dataclass
class DemoResult:
    out_dir: Path
    journal_path: Path
    orders: int
    fills: int
    realized: str
    events: int
    verified: str
    anchor: str

    def summary(self) -> str:
        return (
            f"demo day {DEMO_DAY} {DEMO_SYMBOL}: {self.orders} orders, {self.fills} fills, realized P&L ₹{self.realized}\n"
            f"journal: {self.journal_path} ({self.events} events)\n"
            f"audit: {self.verified}\n"
            f"anchor: {self.anchor}"
        )


def run_demo(cfg: TradekitConfig, out: Path | None = None, *, quantity: int = 10) -> DemoResult:
    out = Path(out) if out else cfg.data_dir / "demo" / DEMO_DAY
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    db = out / "journal.db"
    bars = load_bars(sample_path(DEMO_SYMBOL, "1min"), start=DEMO_DAY, end=DEMO_DAY)
    clock = SimClock(bars.index[0].to_pydatetime())
    journal = Journal(make_engine(sqlite_url(db)), clock=clock)
    book = Book()
    ids = ClientOrderIdGenerator(cfg.orders.tag_prefix, journal.writer_id)

    def emit(type_: str, payload: dict) -> None:
        book.apply(journal.append(type_, payload))

    emit(E.SESSION_STARTED, {"mode": "paper", "capital": str(cfg.account.capital), "day": DEMO_DAY})
    fast = bars["close"].rolling(10).mean()
    slow = bars["close"].rolling(30).mean()
    above = (fast > slow).to_numpy()
    times = [t.to_pydatetime() for t in bars.index]
    opens = bars["open"].to_numpy()
    position = 0
    for i in range(30, len(bars) - 1):
        clock.set(times[i])
        if above[i] == above[i - 1]:
            continue
        target = quantity if above[i] else -quantity
        delta = target - position
        if delta == 0:
            continue
        side = "BUY" if delta > 0 else "SELL"
        cid = ids.next(times[i].date())
        req = OrderRequest("NSE", DEMO_SYMBOL, side, abs(delta), "MARKET", "MIS", market_protection=cfg.orders.market_protection, tag=cid)
        emit(E.SIGNAL_RECEIVED, {"signal_id": f"sma-{i}", "strategy": "sma_10_30", "side": side, "close": str(bars["close"].iloc[i])})
        emit(E.ORDER_CREATED, {"client_order_id": cid, "strategy": "sma_10_30", "request": req.to_dict(), "signal_id": f"sma-{i}", "approval_mode": "auto"})
        emit(E.RISK_DECISION, {"client_order_id": cid, "allowed": True, "checks": []})
        emit(E.APPROVAL_GRANTED, {"client_order_id": cid, "by": "auto-policy", "reason": "paper auto-approval"})
        emit(E.ORDER_SUBMITTED, {"client_order_id": cid, "broker": "paper"})
        clock.set(times[i + 1])
        emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": "OPEN", "broker_order_id": f"P{i:06d}", "filled_quantity": 0})
        price = f"{opens[i + 1]:.2f}"
        emit(E.FILL, {"client_order_id": cid, "trade_id": f"T{i:06d}", "quantity": abs(delta), "price": price, "side": side,
                      "exchange": "NSE", "tradingsymbol": DEMO_SYMBOL, "product": "MIS", "strategy": "sma_10_30"})
        emit(E.ORDER_UPDATE, {"client_order_id": cid, "status": "COMPLETE", "filled_quantity": abs(delta)})
        position = target
    emit(E.SESSION_ENDED, {"day": DEMO_DAY})
    journal.close()
    rebuilt = Book.rebuild(journal.events())
    assert rebuilt.snapshot() == book.snapshot(), "journal rebuild differs from live state"
    res = verify(journal)
    return DemoResult(out, db, len(book.orders), book.fills, fmt_inr(book.realized_pnl), journal.count(), str(res), res.last_hash)
