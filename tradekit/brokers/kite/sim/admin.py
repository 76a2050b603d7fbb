"""The sandbox's own endpoints under ``/sim/`` (not Kite's): its replayed clock and its switches.

They let a rehearsal or a test in another process read the replayed clock and flip the
faults of :mod:`.faults` and the market bends of :mod:`.market` over HTTP. They need no
token (the sandbox listens on loopback), are never rate-limited and never hit by the request
faults. Bodies are JSON (or form fields); answers use Kite's envelope
``{"status": "success", "data": ...}``, errors ``{"status": "error", "error_type":
"InputException", "message": ...}`` naming the field.

==========================  ================================================================
``GET  /sim/clock``         ``{day, time, epoch, speed, ticks_per_bar, started, open, finished,
                            first_bar, last_bar}``: the replayed day, the replayed time now
                            (ISO, IST), and the speed in minutes of market per real minute
``POST /sim/ticker/pause``  ``{heartbeats: true}``: no market data until resumed, sockets open
``POST /sim/ticker/resume`` market data again
``POST /sim/ticker/silence`` ``{seconds}``: nothing at all (not even heartbeats) for N seconds
``POST /sim/ticker/drop``   ``{abort: false}``: close every ticker connection
``POST /sim/move``          ``{instrument: "NSE:NIFTY 50", percent: -10}``: move it now
``POST /sim/drift``         ``{instrument, percent_per_minute}``: replayed prices fall/rise steadily
``POST /sim/flat``          ``{instrument: null, minutes}``: the next N bars trade flat at the last
                            price (null: every replayed instrument); ticks keep coming
``POST /sim/faults/hold``   ``{seconds, times: 1, route: placements}``: hold requests *before*
                            processing them (the order lands after the delay)
``POST /sim/faults/delay``  ``{seconds, times, route}``: process at once, answer after the delay
``POST /sim/faults/clear``  disarm every fault and resume the ticker
``POST /sim/step``          ``{minutes: 1}``: release whole minutes now (a stepped sandbox)
``POST /sim/speed``         ``{speed}``: minutes of market per real minute from now on (0 stops)
==========================  ================================================================
"""

from __future__ import annotations

import json
import re

from tradekit.brokers.kite.sim.faults import ORDER_PLACE


class AdminError(ValueError):
    pass


def _body(body: bytes, form: dict) -> dict:
    if body and body.strip().startswith(b"{"):
        try:
            data = json.loads(body)
        except ValueError as e:
            raise AdminError(f"body: not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise AdminError("body: a JSON object is expected")
        return data
    return {k: (v[0] if isinstance(v, list) and v else v) for k, v in form.items()}


def _num(data: dict, name: str, default=None) -> float:
    v = data.get(name, default)
    if v is None:
        raise AdminError(f"{name}: missing")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise AdminError(f"{name}: {v!r} is not a number") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise AdminError(f"{name}: {v!r} is not a finite number")
    return x


def _whole(data: dict, name: str, default: int) -> int:
    x = _num(data, name, default)
    if x != int(x) or x < 1:
        raise AdminError(f"{name}: {data.get(name)!r} is not a whole number of at least 1")
    return int(x)


def _flag(data: dict, name: str, default: bool) -> bool:
    v = data.get(name, default)
    if isinstance(v, bool):
        return v
    if str(v).lower() in ("1", "true", "yes"):
        return True
    if str(v).lower() in ("0", "false", "no"):
        return False
    raise AdminError(f"{name}: {v!r} is not true or false")


def _route(data: dict) -> str:
    r = data.get("route", "placements")
    if r in ("placements", None, ""):
        return ORDER_PLACE
    try:
        re.compile(str(r))
    except re.error as e:
        raise AdminError(f"route: {r!r} is not a regular expression ({e})") from None
    return str(r)


def handle(server, method: str, path: str, body: bytes, form: dict) -> tuple[int, dict]:
    """Answer one ``/sim/...`` request: ``(status, envelope)``."""
    try:
        data = _admin(server, method, path, _body(body, form) if method == "POST" else {})
        return 200, {"status": "success", "data": data}
    except (AdminError, KeyError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return 400, {"status": "error", "error_type": "InputException", "message": str(msg), "data": None}
    except LookupError as e:
        return 404, {"status": "error", "error_type": "InputException", "message": str(e), "data": None}


def _admin(server, method: str, path: str, data: dict):
    market, faults, hub = server.market, server.faults, server.hub
    if (method, path) == ("GET", "/sim/clock"):
        return market.clock_info()
    if method != "POST":
        raise LookupError(f"Route not found: {method} {path}")
    if path == "/sim/ticker/pause":
        faults.pause_ticker(heartbeats=_flag(data, "heartbeats", True))
        return {"paused": True, "heartbeats": not faults.ticker_paused_heartbeats}
    if path == "/sim/ticker/resume":
        faults.resume_ticker()
        return {"paused": False}
    if path == "/sim/ticker/silence":
        faults.silence_ticker(_num(data, "seconds"))
        return {"silent": True}
    if path == "/sim/ticker/drop":
        hub.drop_all(abort=_flag(data, "abort", False))
        return {"dropped": len(hub.clients)}
    if path == "/sim/move":
        inst = data.get("instrument")
        if not inst:
            raise AdminError("instrument: missing (EXCHANGE:TRADINGSYMBOL)")
        r = market.move(str(inst), _num(data, "percent"))
        return {"instrument": inst, "last_price": r.c, "previous": r.o}
    if path == "/sim/drift":
        inst = data.get("instrument")
        if not inst:
            raise AdminError("instrument: missing (EXCHANGE:TRADINGSYMBOL)")
        pct = _num(data, "percent_per_minute")
        market.set_drift(str(inst), pct)
        return {"instrument": inst, "percent_per_minute": pct}
    if path == "/sim/flat":
        inst = data.get("instrument") or None
        n = _num(data, "minutes")
        if n != int(n) or n < 0:
            raise AdminError(f"minutes: {data.get('minutes')!r} is not a whole number of at least 0")
        chosen = market.set_flat(None if inst is None else str(inst), int(n))
        return {"instruments": sorted(s.key for s in chosen), "minutes": int(n)}
    if path in ("/sim/faults/hold", "/sim/faults/delay"):
        secs = _num(data, "seconds")
        if not 0 <= secs <= 3600:
            raise AdminError(f"seconds: {secs!r} is outside 0..3600")
        fn = faults.hold if path.endswith("hold") else faults.delay_response
        f = fn(secs, times=_whole(data, "times", 1), route=_route(data))
        return {"kind": "hold" if path.endswith("hold") else "delay", "seconds": secs, "times": f.times, "route": f.route}
    if path == "/sim/faults/clear":
        faults.clear()
        return {"cleared": True}
    if path == "/sim/speed":
        market.set_speed(_num(data, "speed"))
        return market.clock_info()
    if path == "/sim/step":
        n = _whole(data, "minutes", 1)
        out = server.step(n)
        return {"minutes": len(out), "clock": market.clock_info()}
    raise LookupError(f"Route not found: {method} {path}")
