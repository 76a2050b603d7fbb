"""Error mapping: every kiteconnect exception, the client's traps, and the placement rules."""

from __future__ import annotations

import inspect
import socket
import threading

import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from tradekit.brokers.kite.errors import KITE_EXCEPTION_MAP, kite_errors, map_exception
from tradekit.errors import AmbiguousOrderState, AuthExpired, BrokerError, BrokerRejected, BrokerUnavailable


def all_kite_exception_classes():
    return [c for _, c in inspect.getmembers(kex, inspect.isclass) if issubclass(c, Exception) and c.__module__ == kex.__name__]


def test_every_kiteconnect_exception_class_is_mapped():
    classes = all_kite_exception_classes()
    assert len(classes) >= 8
    missing = [c.__name__ for c in classes if c not in KITE_EXCEPTION_MAP]
    assert not missing, f"unmapped kiteconnect exceptions: {missing}"


@pytest.mark.parametrize("cls", all_kite_exception_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("code", [400, 403, 429, 500, 502, 503, 504])
@pytest.mark.parametrize("placement", [False, True])
def test_each_class_and_code_maps_to_our_tree_and_keeps_the_message(cls, code, placement):
    err = map_exception(cls("the broker's words", code=code), "do it", placement=placement)
    assert isinstance(err, BrokerError)
    assert err.broker_message == "the broker's words" and "the broker's words" in str(err)
    assert err.code == code
    if cls is kex.TokenException:
        assert isinstance(err, AuthExpired) and "log in again" in str(err)
    elif code == 429:
        assert type(err) is BrokerUnavailable
    elif placement and (code >= 500 or cls is kex.DataException):
        assert isinstance(err, AmbiguousOrderState)
    elif code >= 500 or cls in (kex.NetworkException, kex.DataException):
        assert type(err) is BrokerUnavailable
    else:
        assert type(err) is BrokerRejected


def test_client_traps_without_a_status_are_ambiguous_only_for_placement():
    for trap in (KeyError("content-type"), TypeError("attribute name must be string")):
        assert isinstance(map_exception(trap, "place", placement=True), AmbiguousOrderState)
        assert type(map_exception(trap, "orders")) is BrokerUnavailable
        assert type(map_exception(trap, "place", placement=True, http_status=400)) is BrokerRejected
        assert isinstance(map_exception(trap, "place", placement=True, http_status=403), AuthExpired)
        assert type(map_exception(trap, "place", placement=True, http_status=429)) is BrokerUnavailable
        assert isinstance(map_exception(trap, "place", placement=True, http_status=500), AmbiguousOrderState)


def test_unrelated_exceptions_pass_through():
    with pytest.raises(ZeroDivisionError):
        with kite_errors("x"):
            1 / 0


def _server(behaviour):
    """A one-shot loopback TCP server: ``behaviour(conn)`` decides what happens."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        try:
            behaviour(conn)
        finally:
            conn.close()
            srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{srv.getsockname()[1]}"


def _read_request(conn):
    conn.settimeout(2)
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    return data


def _place(root, timeout=7):
    kite = KiteConnect("k", access_token="t", root=root, timeout=timeout)
    return kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                            quantity=1, product="MIS", order_type="MARKET", market_protection=-1, tag="T1")


def test_refused_connection_is_known_not_placed():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    with pytest.raises(BrokerUnavailable) as ei:
        with kite_errors("place", placement=True):
            _place(f"http://127.0.0.1:{port}")
    assert not isinstance(ei.value, AmbiguousOrderState)


def test_connection_dropped_after_sending_is_ambiguous():
    root = _server(lambda c: _read_request(c))  # read the order, then hang up
    with pytest.raises(AmbiguousOrderState):
        with kite_errors("place", placement=True):
            _place(root)


def test_read_timeout_is_ambiguous():
    gate = threading.Event()
    root = _server(lambda c: (_read_request(c), gate.wait(3)))
    try:
        with pytest.raises(AmbiguousOrderState):
            with kite_errors("place", placement=True):
                _place(root, timeout=0.3)
    finally:
        gate.set()


def test_missing_content_type_and_missing_error_type_are_caught():
    def no_ctype(c):
        _read_request(c)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

    with pytest.raises(AmbiguousOrderState):
        with kite_errors("place", placement=True):
            _place(_server(no_ctype))

    def no_etype(c):
        _read_request(c)
        body = b'{"status": "error", "message": "nope"}'
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)

    with pytest.raises(BrokerRejected):
        with kite_errors("place", placement=True, response=lambda: 400):
            _place(_server(no_etype))
