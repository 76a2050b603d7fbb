"""A basket signal file through a running paper session's inbox (issue 21): one approval card for the whole
basket, approved from another connection (a dashboard), the legs placed buys first and filled — real SQLite
journal, the real inbox, pipeline, gate, OMS and paper broker; nothing mocked."""

from __future__ import annotations

import json

import pandas as pd

from tradekit.clock import IST, SimClock
from tradekit.config import load_config
from tradekit.execution.approval import ApprovalQueue
from tradekit.market.instruments import InstrumentStore
from tradekit.runs.live import PaperSessionRunner
from tradekit.session import Session
from tradekit.signals import Inbox, SignalPipeline
from tradekit.store import Journal, make_engine
from tradekit.store.events import EventType as E

PX = {"NIFTY2681824700PE": 40, "NIFTY2681824800PE": 70, "NIFTY2681824900CE": 60, "NIFTY2681825000CE": 30}
SIGNAL = {"idempotency_key": "ic-20260817-0920", "strategy": "ic_engine", "signal_time": "2026-08-17T09:20:00+05:30",
          "ttl_seconds": 3600,
          "basket": {"strategy": "iron_condor", "underlying": "NIFTY", "expiry": "2026-08-18", "spot": 24870,
                     "put_buy": "ATM-3", "put_sell": "ATM-1", "call_sell": "ATM+1", "call_buy": "ATM+3", "lots": 1,
                     "premiums": {f"NFO:{k}": v for k, v in PX.items()}, "product": "NRML"}}


def bars(price: float, minutes: int = 40) -> pd.DataFrame:
    idx = pd.date_range("2026-08-17 09:15", periods=minutes, freq="1min", tz=IST).as_unit("ns")  # as loaded bars are
    return pd.DataFrame({"open": price, "high": price, "low": price, "close": price, "volume": 100_000}, index=idx)


def test_a_basket_signal_file_is_one_card_approved_then_placed_buys_first(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"extends: {load_config().source}\ndata_dir: {tmp_path / 'var'}\n"
                        "account:\n  capital: 10000000\napproval:\n  mode: manual\n  ttl_seconds: 3600\n"
                        "signals:\n  settle_seconds: 0\n")
    cfg = load_config(cfg_file)
    master = InstrumentStore.bundled(include_nfo_sample=True)
    data = {f"NFO:{k}": bars(v) for k, v in PX.items()}
    s = Session.from_config(cfg, clock=SimClock(data["NFO:NIFTY2681824700PE"].index[0].to_pydatetime()), mode="paper",
                            instruments=master)
    pipe = SignalPipeline(s.journal, cfg, sink=s.submit_signal, emit=s._emit, clock=s.clock)
    inbox = Inbox.from_settings(cfg.signals, cfg.data_dir, pipe)
    dash = ApprovalQueue(Journal(make_engine(cfg.store_url())), cfg)  # the approval dashboard's own connection
    seen: dict = {}

    def on_minute(_):
        if runner.minutes == 5:  # the strategy engine drops its file (write, then rename)
            folder = cfg.data_dir / "signals"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "ic.json.tmp").write_text(json.dumps(SIGNAL))
            (folder / "ic.json.tmp").rename(folder / "ic.json")
        if runner.minutes > 5 and "card" not in seen:
            dash.refresh()
            cards = dash.pending()
            if cards:
                seen["cards"] = len(cards)
                seen["card"] = cards[0]
                dash.approve(cards[0].client_order_id, reason="one decision for four legs")

    runner = PaperSessionRunner(s, data, pipeline=pipe, inbox=inbox, on_minute=on_minute, square_off=False,
                                end="2026-08-17 09:40")
    runner.run()
    assert seen["cards"] == 1
    card = seen["card"].basket
    assert len(card["legs"]) == 4 and card["signal_id"] == "ic-20260817-0920"
    (b,) = s.baskets.baskets.values()
    assert b.state == "complete", b.reason
    placed = [(e.payload["request"]["tradingsymbol"], e.payload["request"]["side"])
              for e in s.journal.events(types=(E.ORDER_CREATED,)) if (e.payload.get("meta") or {}).get("basket")]
    assert placed == [("NIFTY2681824700PE", "BUY"), ("NIFTY2681825000CE", "BUY"), ("NIFTY2681824800PE", "SELL"),
                      ("NIFTY2681824900CE", "SELL")]
    pos = {p.tradingsymbol: p.quantity for p in s.book.positions.values() if p.quantity}
    assert pos == {"NIFTY2681824700PE": 65, "NIFTY2681825000CE": 65, "NIFTY2681824800PE": -65,
                   "NIFTY2681824900CE": -65}
    assert [e.payload["signal_id"] for e in s.journal.events(types=(E.SIGNAL_RECEIVED,))] == ["ic-20260817-0920"]
    assert (cfg.data_dir / "signals" / "processed").is_dir() or not (cfg.data_dir / "signals" / "ic.json").exists()
    s.close()
