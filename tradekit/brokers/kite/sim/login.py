"""The sandbox's login and user routes: the checksum login, request and access tokens, the profile.

Mixed into :class:`~tradekit.brokers.kite.sim.app.KiteSimApp` (its ``api_key``, ``api_secret``,
``user_id``, ``redirect_url``, ``wall_clock``, ``_lock``, ``_request_tokens`` and ``_tokens``).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets as _secrets
import time as _time
import urllib.parse

from tradekit.brokers.kite.sim.wire import FIXTURES, MSG_BAD_TOKEN, TS_FMT, KiteError, Response, _first, _need, _Token, session_expiry


class SimLoginRoutes:
    """Mixed into :class:`~tradekit.brokers.kite.sim.app.KiteSimApp`."""

    def issue_request_token(self) -> str:
        rt = _secrets.token_hex(16)
        with self._lock:
            self._request_tokens[rt] = _time.monotonic() + 300.0  # Kite's are short-lived, single use
        return rt

    def login_redirect(self, query: dict) -> Response:
        api_key = _first(query, "api_key")
        if api_key != self.api_key:
            return Response(400, b"<html><body>Invalid api_key</body></html>", "text/html; charset=utf-8")
        rt = self.issue_request_token()
        target = self.redirect_url or "/connect/finish"
        params = {"request_token": rt, "action": "login", "type": "login", "status": "success"}
        extra = _first(query, "redirect_params")
        if extra:
            params.update(dict(urllib.parse.parse_qsl(extra)))
        sep = "&" if "?" in target else "?"
        return Response(302, b"", "text/html; charset=utf-8", {"Location": f"{target}{sep}{urllib.parse.urlencode(params)}"})

    def finish_page(self, query: dict) -> Response:
        rt = _first(query, "request_token", "")
        html = (f"<html><body><h3>Kite sandbox login</h3><p>request_token: <code id='request_token'>{rt}</code></p>"
                f"<p>Exchange it with <code>tradekit kite login --request-token {rt}</code>.</p></body></html>")
        return Response(200, html.encode(), "text/html; charset=utf-8")

    def session_token(self, form: dict) -> dict:
        api_key, rt, checksum = _need(form, "api_key"), _need(form, "request_token"), _need(form, "checksum")
        if api_key != self.api_key:
            raise KiteError(403, "TokenException", "Invalid `api_key`.")
        with self._lock:
            exp = self._request_tokens.pop(rt, None)
        if exp is None or exp < _time.monotonic():
            raise KiteError(403, "TokenException", "Token is invalid or has expired.")
        want = hashlib.sha256(f"{api_key}{rt}{self.api_secret}".encode()).hexdigest()
        if checksum != want:
            raise KiteError(403, "TokenException", "Invalid checksum.")
        now = self.wall_clock()
        tok = _Token(_secrets.token_hex(16), _secrets.token_hex(16), now, session_expiry(now))
        with self._lock:
            self._tokens[tok.access_token] = tok
        data = json.loads((FIXTURES / "generate_session.json").read_text())["data"]
        data.update({"user_id": self.user_id, "user_name": "Kite Sandbox", "user_shortname": "Sandbox",
                     "email": "sandbox@localhost", "api_key": self.api_key, "access_token": tok.access_token,
                     "public_token": tok.public_token, "enctoken": _secrets.token_hex(8), "refresh_token": "",
                     "login_time": now.strftime(TS_FMT), "avatar_url": None})
        return data

    def logout(self, query: dict) -> bool:
        if _first(query, "api_key") != self.api_key:
            raise KiteError(403, "TokenException", "Invalid `api_key`.")
        tok = _first(query, "access_token")
        with self._lock:
            if tok:
                self._tokens.pop(tok, None)
        return True

    def check_token(self, api_key: str | None, access_token: str | None) -> bool:
        if api_key != self.api_key or not access_token:
            return False
        with self._lock:
            tok = self._tokens.get(access_token)
        return tok is not None and self.wall_clock() < tok.expires

    def authorise(self, headers: dict) -> None:
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        m = re.fullmatch(r"token ([^:]+):(.+)", auth.strip())
        if not m or not self.check_token(m.group(1), m.group(2)):
            raise KiteError(403, "TokenException", MSG_BAD_TOKEN)

    def expire_tokens(self) -> int:
        """Fault: every access token dies now (as at 06:00 IST). Returns how many were live."""
        with self._lock:
            n = len(self._tokens)
            self._tokens.clear()
        return n

    # -- user ---------------------------------------------------------------------------------------
    def r_profile(self, **_):
        data = json.loads((FIXTURES / "profile.json").read_text())["data"]
        data.update({"user_id": self.user_id, "user_name": "Kite Sandbox", "user_shortname": "Sandbox",
                     "email": "sandbox@localhost"})
        return data
