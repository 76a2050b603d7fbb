"""A live session trades only the account's Zerodha user (``account.kite_user_id``): the official
client's login on the sandbox (user SB0001) against a config naming another user is refused at
start, and a broker that meets the wrong user later refuses every call."""

from __future__ import annotations

import pytest

from tests.integration.kite.conftest import kite_config, request_token, secrets


def _live_config(tmp_path, user: str | None):
    from tradekit.config import load_config

    return load_config(overrides={"mode": "live", "live": {"allowed": True}, "data_dir": str(tmp_path / "var"),
                                  "approval": {"mode": "manual"}, "account": {"kite_user_id": user}})


def test_a_live_session_logged_in_as_another_user_is_refused(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker
    from tradekit.errors import ConfigError
    from tradekit.session import Session
    from tradekit.store.lease import current_holder

    broker = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path / "var")
    broker.complete_login(request_token(sim))  # the sandbox's user: SB0001
    with pytest.raises(ConfigError) as e:
        Session(_live_config(tmp_path, "AB1234"), broker=broker)
    assert e.value.field == "account.kite_user_id"
    assert "logged in as SB0001, but this account trades AB1234" in str(e.value)
    with pytest.raises(Exception, match="refusing to trade the wrong account"):
        broker.orders()  # and the broker itself sends nothing
    s = Session(_live_config(tmp_path, "SB0001"), broker=broker)  # the lease was given back; the right user starts
    assert current_holder(s.journal.engine) is not None
    s.close()
    broker.close()


def test_a_login_as_the_wrong_user_later_blocks_every_call(sim, tmp_path):
    from tradekit.brokers.kite.broker import KiteBroker, WrongKiteUser

    broker = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path / "var", expected_user_id="ab1234")
    broker.complete_login(request_token(sim))  # not checked at login: at the first call
    with pytest.raises(WrongKiteUser, match="logged in as SB0001"):
        broker.funds()
    with pytest.raises(Exception, match="wrong account"):
        broker.positions()
    right = KiteBroker(kite_config(sim), secrets(), data_dir=tmp_path / "var2", expected_user_id="SB0001")
    right.complete_login(request_token(sim))
    assert right.funds() is not None
    broker.close()
    right.close()
