"""Login arithmetic, the token file, postback checksums, config, and parsing Kite's JSON."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from tradekit.brokers.kite import parsing
from tradekit.brokers.kite.auth import StoredSession, TokenStore, checksum, postback_checksum, token_expiry
from tradekit.brokers.kite.config import KiteConfig
from tradekit.brokers.kite.postback import verify
from tradekit.clock import IST
from tradekit.errors import SecretError
from tradekit.model.enums import Exchange, OrderType, Product, Side, Variety

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "kite"


def data(name):
    return json.loads((FIX / name).read_text())["data"]


def test_checksums_are_sha256_of_the_documented_concatenations():
    import hashlib

    assert checksum("k", "rt", "s") == hashlib.sha256(b"krts").hexdigest()
    assert postback_checksum("1", "2022-03-03 09:24:25", "s") == hashlib.sha256(b"12022-03-03 09:24:25s").hexdigest()


@pytest.mark.parametrize("login,expires", [
    (datetime(2026, 11, 24, 9, 0, tzinfo=IST), datetime(2026, 11, 25, 6, 0, tzinfo=IST)),
    (datetime(2026, 11, 24, 23, 59, tzinfo=IST), datetime(2026, 11, 25, 6, 0, tzinfo=IST)),
    (datetime(2026, 11, 24, 2, 0, tzinfo=IST), datetime(2026, 11, 24, 6, 0, tzinfo=IST)),
    (datetime(2026, 11, 24, 6, 0, tzinfo=IST), datetime(2026, 11, 25, 6, 0, tzinfo=IST)),
])
def test_tokens_die_at_the_first_0600_ist_after_login(login, expires):
    assert token_expiry(login) == expires


def test_token_file_is_owner_only_and_refused_otherwise(tmp_path):
    store = TokenStore(tmp_path / "kite" / "session.json")
    assert store.load() is None
    t = datetime(2026, 11, 24, 9, 0, tzinfo=IST)
    s = StoredSession("k", SecretStr("the-token"), "AB1234", t, token_expiry(t))
    path = store.save(s)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = store.load()
    assert back.access_token.get_secret_value() == "the-token" and "the-token" not in repr(back)
    assert back.expired(datetime(2026, 11, 25, 6, 0, tzinfo=IST)) and not back.expired(t)
    os.chmod(path, 0o640)
    with pytest.raises(SecretError, match="chmod 600"):
        store.load()
    os.chmod(path, 0o600)
    path.write_text("{not json")
    with pytest.raises(SecretError, match="log in again"):
        store.load()
    store.clear()
    assert not path.exists()


def test_postback_verification():
    p = {"order_id": "220303000308932", "order_timestamp": "2022-03-03 09:24:25"}
    p["checksum"] = postback_checksum(p["order_id"], p["order_timestamp"], "sec")
    assert verify(p, "sec")
    assert not verify(p, "other-secret")
    assert not verify({**p, "order_timestamp": "2022-03-03 09:24:26"}, "sec")
    assert not verify({k: v for k, v in p.items() if k != "checksum"}, "sec")


def test_config_defaults_and_validation():
    c = KiteConfig()
    assert c.root == "https://api.kite.trade" and c.market_protection == -1
    w = c.rate_limits.windows()
    assert [x.limit for x in w["orders"]] == [10, 400, 5000] and w["quote"][0].limit == 1
    with pytest.raises(ValidationError):
        KiteConfig(market_protection=0)
    with pytest.raises(ValidationError):
        KiteConfig(root="https://x/?access_token=abc")
    with pytest.raises(ValidationError):
        KiteConfig(api_key="x")  # no secrets (or unknown fields) in the section


def test_config_does_not_import_kiteconnect():
    import subprocess
    import sys

    code = "import sys, tradekit.brokers.kite.config as c; c.KiteConfig(); print('kiteconnect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_parse_the_fixture_order_book():
    rows = [parsing.order(d) for d in data("orders.json")]
    assert len(rows) == 10
    first = rows[0]
    assert (first.broker_order_id, first.status, first.exchange, first.side) == ("100000000000000", "CANCELLED", Exchange.CDS, Side.BUY)
    assert first.price == Decimal("72") and first.trigger_price is None and first.timestamp.tzinfo is not None
    assert {r.variety for r in rows} >= {Variety.REGULAR, Variety.ICEBERG, Variety.AUCTION}
    assert {r.product for r in rows} >= {Product.CNC, Product.NRML, Product.MTF}
    assert any(r.order_type is OrderType.MARKET for r in rows)
    last = rows[-1]  # tags ["autoslice", ...] are Kite's, not ours
    assert last.tag is None and last.average_price == Decimal("12.3")


def test_parse_history_trades_positions_holdings_margins():
    hist = [parsing.order(d) for d in data("order_info.json")]
    assert [h.status for h in hist][:3] == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"]
    t = parsing.trade(data("trades.json")[0], tag="TK1")
    assert (t.trade_id, t.quantity, t.price, t.tag) == ("10000000", 1, Decimal("420.65"), "TK1")
    assert t.timestamp == datetime(2021, 5, 31, 9, 16, 39, tzinfo=IST)
    pos = [parsing.position(d) for d in data("positions.json")["net"]]
    assert pos[0].tradingsymbol == "LEADMINI17DECFUT" and pos[0].exchange is Exchange.MCX and pos[0].quantity == 1
    h = parsing.holding(data("holdings.json")[0])
    assert h.tradingsymbol == "AARON" and h.quantity == 1 and h.average_price == Decimal("161")
    f = parsing.funds(data("margins.json"))
    assert f.available == Decimal("99725.05000000002") and f.cash == Decimal("245431.6")


def test_parse_a_postback_and_the_clients_naive_datetimes():
    pb = json.loads((FIX / "postback.json").read_text())
    row = parsing.order(pb)
    assert row.status == "COMPLETE" and row.filled_quantity == 1 and row.pending_quantity == 0
    assert parsing.ts(datetime(2026, 1, 2, 9, 15)) == datetime(2026, 1, 2, 9, 15, tzinfo=IST)
    assert parsing.ts("2017-12-15T09:15:00+0530").utcoffset().total_seconds() == 19800
    assert parsing.ts("garbage") is None and parsing.ts(None) is None
