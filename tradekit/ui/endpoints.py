"""Two small endpoints served by ``tradekit serve`` itself (the Voila process), not by a page's kernel.

* ``POST /tradekit/api/kill`` (JSON ``{"reason": "..."}``) appends the kill request to the
  journal — the same ``risk.kill_switch`` + ``risk.trading_state: HALTED`` events ``tradekit
  kill`` writes — so the kill switch works while a page's kernel is dead or its websocket lost.
* ``GET /tradekit/api/liveness`` returns the session's heartbeat (RUNNING / NO SESSION).

Both sit on Jupyter Server's own handler class: the dashboard token (``Authorization: token
...`` or ``?token=``) or the login cookie authenticates, and a cookie-authenticated POST must
also carry the ``_xsrf`` cookie's value in ``X-XSRFToken`` from the same origin (Jupyter's
CSRF rule); anything else is refused with 403. Voila listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)

KILL_PATH = "/tradekit/api/kill"
LIVENESS_PATH = "/tradekit/api/liveness"
ORIGIN = "dashboard-endpoint"


def _config():
    from tradekit.config import load_config

    return load_config(os.environ.get("TRADEKIT_CONFIG") or None)


def kill_via_endpoint(reason: str, *, by: str, config=None) -> dict:
    """Append the kill request to the config's journal; returns ``{"ok", "seq", "path", "message"}``."""
    from tradekit.execution.controls import request_kill
    from tradekit.store import Journal, make_engine

    cfg = config or _config()
    j = Journal(make_engine(cfg.store_url()))
    try:
        seq = request_kill(j, reason, by=by, origin=ORIGIN)
    finally:
        j.close()
    log.warning("kill switch tripped through the serve endpoint by %s: %s", by, reason)
    return {"ok": True, "seq": seq, "path": "tradekit serve endpoint",
            "message": "HALTED: the session cancels open orders and flattens positions at its next poll"}


def liveness_payload(config=None) -> dict:
    from tradekit.runs.heartbeat import liveness

    cfg = config or _config()
    hb = liveness(cfg.data_dir)
    clock = hb.clock_now()
    return {"alive": hb.alive, "label": hb.label(), "source": hb.source, "why": hb.why,
            "session_clock": clock.isoformat() if clock else None, "speed": hb.speed,
            "trading_state": hb.trading_state, "cause": hb.cause, "age": hb.age}


def handlers(base_url: str = "/") -> list:
    """Tornado handlers for Voila's application (added by :mod:`tradekit.ui.voila_main`)."""
    from jupyter_server.base.handlers import JupyterHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    class _Base(JupyterHandler):
        def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:
            # same origin only (Jupyter's default allows it; no CORS headers are ever sent)
            origin = self.request.headers.get("Origin")
            if origin is None:
                return True
            host = self.request.headers.get("Host", "")
            return origin.split("://", 1)[-1] == host

        def _user(self) -> str:
            if self.current_user is None:
                raise web.HTTPError(403, "the dashboard token is required")
            cfg = self._cfg = _config()
            return getattr(cfg.approval, "approver", None) or "dashboard"

    class KillHandler(_Base):
        async def post(self) -> None:
            by = self._user()
            try:
                body = json.loads(self.request.body or b"{}")
                reason = str(body.get("reason") or "").strip()
            except (ValueError, AttributeError):
                raise web.HTTPError(400, "the body must be JSON: {\"reason\": \"...\"}") from None
            self.set_header("Content-Type", "application/json")
            if not reason:
                self.set_status(400)
                self.finish(json.dumps({"ok": False, "message": "say why the kill switch is tripped (reason)"}))
                return
            try:
                out = kill_via_endpoint(reason, by=f"{by} (page)", config=self._cfg)
            except Exception as e:  # noqa: BLE001 - the page shows what failed, with the fallback
                log.exception("kill endpoint failed")
                self.set_status(500)
                self.finish(json.dumps({"ok": False, "message": f"{type(e).__name__}: {e} — use `tradekit kill "
                                                                "--reason ...`"}))
                return
            self.finish(json.dumps(out))

    class LivenessHandler(_Base):
        async def get(self) -> None:
            self._user()
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            self.finish(json.dumps(liveness_payload(self._cfg), default=str))

    return [(url_path_join(base_url, KILL_PATH), KillHandler), (url_path_join(base_url, LIVENESS_PATH), LivenessHandler)]
