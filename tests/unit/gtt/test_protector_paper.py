"""The GTT protector on the paper broker: protect a CNC position, the GTT fires on a mark from the
market-data hub, its LIMIT order is adopted into the book under the position's strategy and its
fill closes the position; the bracket <-> GTT mapping is rebuilt from the journal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.unit.execution.conftest import T0, make_session, step
from tradekit.data.types import Tick
from tradekit.errors import ValidationError
from tradekit.model.enums import OrderType, Product, Side
from tradekit.model.gtt import GttStatus
from tradekit.model.order import OrderRequest, OrderStatus
from tradekit.store.events import EventType as E


def mark(s, key, px):
    s.clock.advance(1)
    s.market.on_ticks([Tick(key, s.clock.now(), float(px), None, "quote")], "paper")


def holding(s, qty=10, px=1500.0, strategy="swing"):
    mark(s, "NSE:INFY", px)
    s.oms.submit(OrderRequest("NSE", "INFY", Side.BUY, qty, OrderType.MARKET, Product.CNC), strategy=strategy)
    step(s, "NSE:INFY", 1, px, px, px, px)
    assert s.book.net_quantity("NSE", "INFY", "CNC") == qty
    return s


def reopen(path, at):
    """The same journal opened by a new process (as after a crash)."""
    from tradekit.clock import SimClock
    from tradekit.config import load_config
    from tradekit.risk.base import PassThroughGate
    from tradekit.session import Session
    from tradekit.store import Journal, make_engine, sqlite_url
    from tradekit.store.lease import JournalLease

    cfg = load_config(overrides={"paper": {"latency_ms": 0, "participation": 0, "slippage": {"model": "none"}}})
    clock = SimClock(at)
    engine = make_engine(sqlite_url(path))
    journal = Journal(engine, clock=clock, lease=JournalLease.acquire(engine, owner="test"))
    return Session(cfg, clock=clock, journal=journal, mode="paper", gate=PassThroughGate())


def gtt_events(s, kind=None):
    evs = list(s.journal.events(types=(kind,) if kind else None))
    return [e for e in evs if e.type.startswith("gtt.")] if kind is None else evs


def test_protect_places_an_oco_and_a_stop_crossing_exits_the_position(tmp_path):
    s = holding(make_session(tmp_path))
    gid = s.gtt.protect("B1", "NSE:INFY", 10, Decimal(1450), Decimal(1600), "CNC")
    assert gid is not None
    g = s.broker.get_gtt(gid)
    assert g.status is GttStatus.ACTIVE and g.request.trigger_values == (Decimal(1450), Decimal(1600))
    assert [leg.side for leg in g.request.legs] == [Side.SELL, Side.SELL]
    assert g.request.legs[0].price == Decimal("1435.50")  # 1% below the stop, on the tick grid
    placed = gtt_events(s, E.GTT_PLACED)[-1].payload
    assert placed["bracket_id"] == "B1" and placed["parent_id"] == "B1" and placed["gtt_id"] == gid
    mark(s, "NSE:INFY", 1470)  # above the stop: nothing
    assert s.broker.get_gtt(gid).status is GttStatus.ACTIVE
    mark(s, "NSE:INFY", 1449.95)  # through the stop
    g = s.broker.get_gtt(gid)
    assert g.status is GttStatus.TRIGGERED and g.fired[0] == 0
    adopted = [o for o in s.book.orders.values() if o.source == "gtt"]
    assert len(adopted) == 1 and adopted[0].strategy == "swing" and adopted[0].broker_order_id == g.fired[1].order_id
    step(s, "NSE:INFY", 5, 1445, 1446, 1440, 1441)  # the LIMIT at 1435.50 fills
    assert adopted[0].status is OrderStatus.FILLED
    assert s.book.net_quantity("NSE", "INFY", "CNC") == 0
    trig = gtt_events(s, E.GTT_TRIGGERED)[-1].payload
    assert trig["leg"] == "stop" and trig["ok"] and trig["client_order_id"] == adopted[0].client_order_id
    mark(s, "NSE:INFY", 1700)  # the target leg never fires after the stop
    assert len([o for o in s.book.orders.values() if o.source == "gtt"]) == 1
    s.close()


def test_not_cnc_or_nrml_is_not_protected_and_bad_input_names_the_field(tmp_path):
    s = holding(make_session(tmp_path))
    assert s.gtt.protect("B2", "NSE:INFY", 10, 1450, 1600, "MIS") is None
    with pytest.raises(ValidationError, match="qty"):
        s.gtt.protect("B2", "NSE:INFY", 0, 1450, 1600, "CNC")
    with pytest.raises(ValidationError, match="stop"):
        s.gtt.protect("B2", "NSE:INFY", -10, 1450, 1600, "CNC")
    with pytest.raises(ValidationError, match="a long needs its stop below its target"):
        s.gtt.protect("B2", "NSE:INFY", 10, 1600, 1450, "CNC")  # BUY legs would add to the position
    with pytest.raises(ValidationError, match="takes CNC, not NRML"):
        s.gtt.protect("B2", "NSE:INFY", 10, 1450, 1600, "NRML")  # NRML is for derivatives
    assert not s.broker.gtts()
    s.close()


def test_a_trigger_too_close_is_journaled_and_placed_once_the_price_allows(tmp_path):
    s = holding(make_session(tmp_path))
    assert s.gtt.protect("B3", "NSE:INFY", 10, 1498, 1600, "CNC") is None  # 0.13% from 1500
    failed = gtt_events(s, E.GTT_FAILED)[-1].payload
    assert "within" in failed["error"] and failed["bracket_id"] == "B3"
    mark(s, "NSE:INFY", 1530)
    found = s.gtt.reconcile()
    assert [f["kind"] for f in found] == ["missing"] and found[0]["replaced_by"]
    assert s.broker.get_gtt(found[0]["replaced_by"]).status is GttStatus.ACTIVE
    s.close()


def test_update_and_remove_and_a_local_exit_deletes_the_gtt(tmp_path):
    s = holding(make_session(tmp_path))
    gid = s.gtt.protect("B4", "NSE:INFY", 10, 1450, 1600, "CNC")
    s.gtt.update("B4", 6, 1460, 1620)
    g = s.broker.get_gtt(gid)
    assert g.request.trigger_values == (Decimal(1460), Decimal(1620)) and g.request.legs[0].quantity == 6
    assert gtt_events(s, E.GTT_MODIFIED)[-1].payload["quantity"] == 6
    # the position is closed by an ordinary order: the GTT goes (one exit, never two)
    s.oms.submit(OrderRequest("NSE", "INFY", Side.SELL, 10, OrderType.MARKET, Product.CNC), strategy="swing")
    step(s, "NSE:INFY", 3, 1500, 1500, 1500, 1500)
    assert s.book.net_quantity("NSE", "INFY", "CNC") == 0
    assert s.broker.get_gtt(gid).status is GttStatus.DELETED
    assert s.gtt.protections["B4"].state == "closed"
    s.gtt.remove("B4")  # already gone: nothing more
    s.close()


def test_the_mapping_is_rebuilt_from_the_journal_and_paper_protects_again_after_a_restart(tmp_path):
    s = holding(make_session(tmp_path))
    gid = s.gtt.protect("B5", "NSE:INFY", 10, 1450, 1600, "CNC")
    s.close()
    s2 = reopen(tmp_path / "j.db", T0 + timedelta(minutes=30))
    p = s2.gtt.protections["B5"]
    assert p.gtt_id == gid and p.state == "active" and p.strategy == "swing" and p.quantity == 10
    # the old process's paper GTTs are gone: the first price protects the position again
    mark(s2, "NSE:INFY", 1510)
    p = s2.gtt.protections["B5"]
    assert p.gtt_id and s2.broker.get_gtt(p.gtt_id).status is GttStatus.ACTIVE
    kinds = [e.payload["kind"] for e in gtt_events(s2, E.GTT_FINDING)]
    assert kinds == ["missing"]
    s2.close()


def test_reconciliation_deletes_an_orphan_a_duplicate_and_reports_a_stranger(tmp_path):
    from tradekit.model.gtt import GttLeg, GttRequest

    s = holding(make_session(tmp_path))
    gid = s.gtt.protect("B6", "NSE:INFY", 10, 1450, 1600, "CNC")
    req = s.broker.get_gtt(gid).request
    twin = s.broker.place_gtt(req)  # a placement that timed out and landed after all
    stranger = s.broker.place_gtt(GttRequest("NSE", "INFY", (Decimal(1300),), (GttLeg("SELL", 1, "1300", "CNC"),)))
    found = s.gtt.reconcile()
    assert sorted(f["kind"] for f in found) == ["duplicate", "unknown_gtt"]
    assert s.broker.get_gtt(twin).status is GttStatus.DELETED and s.broker.get_gtt(gid).is_active
    assert s.broker.get_gtt(stranger).is_active  # not ours: left alone
    assert s.gtt.reconcile() == []  # reported once
    # the position goes while the protector does not listen (as while tradekit was down)
    s.oms.listeners.remove(s.gtt.on_event)
    s.oms.submit(OrderRequest("NSE", "INFY", Side.SELL, 10, OrderType.MARKET, Product.CNC), strategy="swing")
    step(s, "NSE:INFY", 3, 1500, 1500, 1500, 1500)
    found = s.gtt.reconcile()
    assert [f["kind"] for f in found] == ["orphan_deleted"] and s.broker.get_gtt(gid).status is GttStatus.DELETED
    assert s.gtt.protections["B6"].state == "closed"
    assert [e.payload["kind"] for e in gtt_events(s, E.GTT_FINDING)] == ["duplicate", "unknown_gtt", "orphan_deleted"]
    s.close()


def test_a_smaller_position_resizes_the_legs(tmp_path):
    s = holding(make_session(tmp_path))
    gid = s.gtt.protect("B7", "NSE:INFY", 10, 1450, 1600, "CNC")
    s.oms.submit(OrderRequest("NSE", "INFY", Side.SELL, 4, OrderType.MARKET, Product.CNC), strategy="swing")
    step(s, "NSE:INFY", 3, 1500, 1500, 1500, 1500)
    found = s.gtt.reconcile()
    assert [f["kind"] for f in found] == ["resized"]
    assert [leg.quantity for leg in s.broker.get_gtt(gid).request.legs] == [6, 6]
    s.close()
