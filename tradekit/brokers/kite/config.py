"""The ``kite:`` config section (wired into ``TradekitConfig`` as ``kite: KiteConfig``).

No secret lives here: the API key, API secret and access token come only from
:class:`tradekit.config.Secrets` (``KITE_API_KEY``, ``KITE_API_SECRET``, ``KITE_ACCESS_TOKEN``)
and the token file. To rehearse a live day against the local sandbox::

    mode: live
    live: {allowed: true}
    kite:
      root: http://127.0.0.1:8765
      login_url: http://127.0.0.1:8765/connect/login
      ticker_url: ws://127.0.0.1:8765/ws

This module imports neither ``kiteconnect`` nor anything heavy, so config loading stays cheap.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class KiteRateLimits(_Section):
    """Client-side limits the process-wide governor keeps (Kite's as of 2026-11; india.md §7.2)."""

    orders_per_second: int = Field(10, ge=1, description="order placements, modifications and cancellations per second")
    orders_per_minute: int = Field(400, ge=1, description="order requests per minute")
    orders_per_day: int = Field(5000, ge=1, description="order requests per day (all segments)")
    quote_per_second: int = Field(1, ge=1, description="quote / ohlc / ltp calls per second")
    historical_per_second: int = Field(3, ge=1, description="historical-candle calls per second")
    other_per_second: int = Field(10, ge=1, description="every other API call per second")
    margin_seconds: float = Field(
        0.05, ge=0, le=1,
        description="added to each rolling window so that network jitter cannot make Kite count one call too many",
    )
    max_wait_seconds: float = Field(65.0, ge=0, description="longest a call waits for a slot before it is refused")
    retries_on_429: int = Field(2, ge=0, le=10, description="a 429 means nothing was done, so the call is retried after backoff")

    def windows(self) -> dict:
        from tradekit.brokers.kite.ratelimit import DAY, Window

        m = self.margin_seconds
        return {
            "orders": (Window(self.orders_per_second, 1.0 + m), Window(self.orders_per_minute, 60.0 + m),
                       Window(self.orders_per_day, DAY)),
            "quote": (Window(self.quote_per_second, 1.0 + m),),
            "historical": (Window(self.historical_per_second, 1.0 + m),),
            "other": (Window(self.other_per_second, 1.0 + m),),
        }


class KitePostbackConfig(_Section):
    """A small receiver for Kite's order postbacks (checksum verified)."""

    enabled: bool = Field(False, description="run the receiver (order_updates: postback or both)")
    host: str = Field("127.0.0.1", description="address the receiver listens on (put a TLS proxy in front of it)")
    port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    path: str = Field("/kite/postback", description="the URL path Kite posts to (as registered with the app)")


class KiteConfig(_Section):
    """Where Kite is and how tradekit talks to it."""

    root: str = Field("https://api.kite.trade", description="REST root (the sandbox: http://127.0.0.1:PORT)")
    login_url: str = Field("https://kite.zerodha.com/connect/login", description="login page base")
    ticker_url: str = Field("wss://ws.kite.trade", description="ticker root (the sandbox: ws://127.0.0.1:PORT/ws)")
    redirect_url: str | None = Field(None, description="the app's registered redirect URL (informational)")
    token_file: Path | None = Field(None, description="access token file (mode 0600); default <data_dir>/kite/session.json")
    timeout_seconds: float = Field(7.0, gt=0, le=120, description="HTTP timeout of one API call")
    algo_id: str | None = Field(None, description="exchange algo id sent with every order (registered strategies)")
    market_protection: Decimal = Field(Decimal("-1"), description="for MARKET/SL-M orders: -1 automatic, or 1-100 percent")
    rate_limits: KiteRateLimits = Field(default_factory=KiteRateLimits)
    order_updates: Literal["ticker", "postback", "both", "none"] = Field(
        "ticker", description="where order updates come from between reconciliations: the ticker's order messages, "
        "the postback receiver, both, or none (polling only)")
    reconcile_interval_seconds: float = Field(30.0, ge=0, description="0 = only on start and on demand")
    watchdog_seconds: float = Field(10.0, gt=0, description="ticker silence (no tick, no heartbeat) before reconnecting")
    ticker_reconnect_max_delay: int = Field(5, ge=5, le=300, description="longest pause between ticker reconnect attempts, "
                                            "seconds (kiteconnect's bounds: 5-300)")
    ticker_reconnect_max_tries: int = Field(300, ge=1, le=300, description="ticker reconnect attempts before the feed "
                                            "counts as lost (kiteconnect's bound: 300)")
    historical_cache_dir: Path | None = Field(None, description="default <data_dir>/kite/historical")
    instruments_cache_dir: Path | None = Field(None, description="default <data_dir>/kite/instruments")
    postback: KitePostbackConfig = Field(default_factory=KitePostbackConfig)

    @field_validator("market_protection")
    @classmethod
    def _mp(cls, v: Decimal) -> Decimal:
        if not (v == -1 or 0 < v <= 100):
            raise ValueError("must be -1 (automatic) or a percent above 0 and at most 100 (Kite rejects 0 since 2026-04-01)")
        return v

    @field_validator("root", "login_url", "ticker_url")
    @classmethod
    def _no_secrets_in_urls(cls, v: str) -> str:
        low = v.lower()
        if "access_token=" in low or "api_secret" in low:
            raise ValueError("URLs here must not carry credentials; secrets come from the environment or the secrets file")
        return v.rstrip("/") if v.endswith("/") and v.count("/") > 2 else v
