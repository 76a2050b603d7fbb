"""The HTTP endpoint, driven with real requests to 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.unit.signals.helpers import record
from tradekit.config import Secrets, TradekitConfig
from tradekit.errors import ConfigError, SecretError
from tradekit.signals.config import SignalsConfig
from tradekit.signals.http import SignalServer
from tradekit.signals.pipeline import SignalPipeline
from tradekit.store import EventType

TOKEN = "test-token-0123456789abcdef"


def call(url: str, body: bytes | str | None = None, *, token: str | None = TOKEN, method: str | None = None,
         ctype: str = "application/json", headers: dict | None = None) -> tuple[int, dict]:
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    if data is not None:
        req.add_header("Content-Type", ctype)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture
def pipeline(sim_journal, sink):
    return SignalPipeline(sim_journal, TradekitConfig(approval={"strategies": {"careful": "manual"}}), sink=sink)


@pytest.fixture
def server(pipeline):
    srv = SignalServer(pipeline, TOKEN, max_body_bytes=4096).start()
    yield srv
    srv.stop()


def test_accepts_signals_with_the_token(server, sink, sim_journal):
    body = json.dumps([record("a"), record("b", strategy="careful")])
    status, ans = call(f"{server.url}/signals", body)
    assert status == 202
    assert ans["accepted"] == [{"signal_id": "a", "route": "auto"}, {"signal_id": "b", "route": "manual"}]
    assert ans["errors"] == [] and sink.ids == ["a", "b"]
    received = list(sim_journal.events(types=(EventType.SIGNAL_RECEIVED,)))
    assert [e.payload["source"] for e in received] == ["http:127.0.0.1"] * 2
    # a retry is safe: the same body comes back as duplicates and makes no new proposal
    status, ans = call(f"{server.url}/signals", body)
    assert status == 202 and ans["accepted"] == [] and ans["duplicates"] == ["a", "b"] and sink.ids == ["a", "b"]


def test_json_lines_body(server, sink):
    body = "\n".join(json.dumps(record(k)) for k in ("x", "y"))
    status, ans = call(f"{server.url}/signals", body, ctype="application/x-ndjson")
    assert status == 202 and [a["signal_id"] for a in ans["accepted"]] == ["x", "y"]


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789abcdef", TOKEN[:-1], ""])
def test_no_or_wrong_token_is_401_and_records_nothing(server, sink, sim_journal, token):
    status, ans = call(f"{server.url}/signals", json.dumps(record("a")), token=token)
    assert status == 401 and "token" in ans["error"]
    assert sink.ids == [] and sim_journal.count() == 0


def test_basic_auth_scheme_is_refused(server, sink):
    status, _ = call(f"{server.url}/signals", json.dumps(record("a")), token=None,
                     headers={"Authorization": f"Basic {TOKEN}"})
    assert status == 401 and sink.ids == []


def test_a_partly_bad_batch_is_202_with_per_record_errors(server, sink):
    status, ans = call(f"{server.url}/signals", json.dumps([record("a"), record("b", quantity=0)]))
    assert status == 202 and [a["signal_id"] for a in ans["accepted"]] == ["a"]
    assert ans["errors"] == [{"index": 1, "field": "quantity", "message": "must be greater than 0 (0 was received)",
                              "idempotency_key": "b"}]


def test_nothing_usable_is_400_with_errors(server, sink):
    status, ans = call(f"{server.url}/signals", json.dumps([record("a", side="HOLD"), record("b", signal_time="09:15")]))
    assert status == 400 and ans["accepted"] == []
    assert [(e["index"], e["field"]) for e in ans["errors"]] == [(0, "side"), (1, "signal_time")]
    status, ans = call(f"{server.url}/signals", "<xml/>")
    assert status == 400 and ans["errors"][0]["index"] is None and "not JSON" in ans["errors"][0]["message"]
    assert sink.ids == []


def test_a_body_over_the_limit_is_413(server, sink):
    body = json.dumps([record(f"k{i}") for i in range(40)])
    assert len(body) > 4096
    status, ans = call(f"{server.url}/signals", body)
    assert status == 413 and "limit of 4096" in ans["error"] and sink.ids == []


def test_health_and_wrong_paths(server):
    assert call(f"{server.url}/health", token=None) == (200, {"status": "ok"})
    assert call(f"{server.url}/nope", token=None)[0] == 404
    assert call(f"{server.url}/signals", token=None)[0] == 405
    assert call(f"{server.url}/other", "{}")[0] == 404


def test_a_failing_journal_is_503_so_the_client_retries(sink):
    class Broken:
        def ingest(self, *a, **k):
            from tradekit.errors import StoreError

            raise StoreError("cannot append to the journal: disk I/O error")

    with SignalServer(Broken(), TOKEN) as srv:
        status, ans = call(f"{srv.url}/signals", json.dumps(record("a")))
    assert status == 503 and "send it again" in ans["error"]


def test_binds_loopback_only(pipeline):
    srv = SignalServer(pipeline, TOKEN).start()
    try:
        assert srv._httpd.server_address[0] == "127.0.0.1" and srv.port > 0
    finally:
        srv.stop()
    with pytest.raises(ConfigError, match="loopback"):
        SignalServer(pipeline, TOKEN, host="0.0.0.0")
    with pytest.raises(Exception, match="loopback"):
        SignalsConfig(http_host="0.0.0.0")


def test_refuses_to_start_without_a_proper_token(pipeline, monkeypatch):
    with pytest.raises(SecretError, match="TRADEKIT_SIGNAL_TOKEN is not set"):
        SignalServer(pipeline)
    with pytest.raises(SecretError, match="at least 16"):
        SignalServer(pipeline, "short")
    # the token comes from the secrets (environment or secrets file), never from YAML
    monkeypatch.setenv("TRADEKIT_SIGNAL_TOKEN", TOKEN)
    srv = SignalServer.from_settings(SignalsConfig(http_port=0), pipeline, secrets=Secrets.load())
    with srv:
        assert call(f"{srv.url}/signals", json.dumps(record("env")))[0] == 202
        assert TOKEN not in repr(srv)


def test_stop_releases_the_port(pipeline):
    srv = SignalServer(pipeline, TOKEN).start()
    url = srv.url
    srv.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/health", timeout=2)
