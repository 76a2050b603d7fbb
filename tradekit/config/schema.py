"""Config schema. Every section forbids unknown fields, so a typo is an error, not a silent default.

Later capabilities add their own section models here; ``TradekitConfig`` is the root.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tradekit.errors import ValidationError

from tradekit.alerts.config import AlertsConfig
from tradekit.options.expiry import ExpirySettings
from tradekit.brokers.kite.config import KiteConfig
from tradekit.brokers.paper.config import PaperConfig
from tradekit.market.config import MarketConfig
from tradekit.marketdata.config import MarketDataConfig
from tradekit.options.basket_config import BasketsConfig
from tradekit.research.config import ResearchConfig
from tradekit.risk.config import RiskConfig
from tradekit.runs.config import RunsConfig
from tradekit.signals.config import SignalsConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class AccountConfig(Section):
    name: str = Field("paper", min_length=1, description="a label for the account (reports, tags)")
    capital: Decimal = Field(Decimal("1000000"), gt=0, description="starting cash in rupees (paper)")
    kite_user_id: str | None = Field(
        None, pattern=r"^[A-Z]{2}[A-Z0-9]{2,8}$",
        description="the Zerodha user id this account trades (e.g. AB1234): a live session logged in to Kite as another "
        "user is refused at start, and its broker refuses every call (null: not checked)")


class StoreConfig(Section):
    url: str | None = Field(None, description="SQLAlchemy URL; default sqlite file under data_dir")
    durability: Literal["sync", "batch"] = Field(
        "sync", description="sync: every event is committed before the call returns (an order is journaled before it is "
        "sent); batch: events are buffered and written batch_size at a time (fast replays; a crash loses the buffer)")
    batch_size: int = Field(2000, ge=1, description="durability batch: events per transaction")
    synchronous: Literal["OFF", "NORMAL", "FULL"] = Field(
        "NORMAL", description="SQLite's PRAGMA synchronous: NORMAL (WAL) survives a process crash, FULL also a power "
        "loss, OFF neither (benchmarks only); ignored on PostgreSQL")
    anchor_interval_seconds: float = Field(
        300, ge=0, le=86400, description="live: publish the journal's anchor (seq, hash, time) to the anchor log this often; "
        "0 = only at the end of each day and session")
    anchor_log: Path | None = Field(None, description="the append-only anchor log (JSONL) outside the database; "
                                    "default <data_dir>/anchors/<journal>.jsonl; relative to data_dir")
    lock_warn_seconds: float = Field(
        5.0, ge=0, description="a wait for the journal's write lock (held by another process) longer than this is logged, "
        "shown in the session status and journaled once the write goes through")
    lock_timeout_seconds: float = Field(
        30.0, gt=0, description="after waiting this long for the write lock the journal counts as unavailable: the "
        "session stops placing orders (HALTED, journal unavailable) until it can write again")
    # -- journal snapshots and archival (tradekit.store.snapshot, tradekit.store.archive) --
    snapshot_every_events: int = Field(
        10000, ge=0, description="a session starts from the latest journal snapshot and the events after it; it writes a "
        "new snapshot when this many events came after the last one (at start, while running, at close); 0 = never write "
        "one (start-up then replays the whole journal)")
    archive_after_days: int | None = Field(
        None, ge=1, description="days older than this (IST, by session time) move from the database to compressed archive "
        "files when a session closes and on `tradekit journal archive`; `audit verify` still checks them. null = keep "
        "everything in the database")
    archive_dir: Path | None = Field(None, description="where archive files go; default <data_dir>/archive/<journal>/; "
                                     "relative to data_dir")

    account: str = Field(
        "default", description="the account whose journal this is (tradekit.store.accounts): several accounts share one "
        "PostgreSQL database (store.url), each with its own chain, lease and anchors; a SQLite store is one account, "
        "'default'. Lower-case letters, digits, underscores; $TRADEKIT_ACCOUNT or a command's --account overrides it")

    @field_validator("account")
    @classmethod
    def _account(cls, v: str, info: ValidationInfo) -> str:
        from tradekit.account_id import check_store, validate

        try:
            v = validate(v)
            check_store(info.data.get("url"), v)  # a SQLite store: the default account only
        except ValidationError as e:
            raise ValueError(e.reason) from None
        return v


class OrdersConfig(Section):
    tag_prefix: str = Field("TK", pattern=r"^[A-Za-z]{1,4}$", description="1-4 letters that start the tag tradekit puts "
                            "on every order, so its own orders are found at the broker after a crash")
    market_protection: Decimal = Field(Decimal("-1"), description="-1 = automatic, or 1-100 percent")
    algo_id: str | None = Field(None, description="the exchange algo ID sent with every order (SEBI's rules for "
                                "registered algos; kite.algo_id and risk.compliance.algo_id take precedence)")

    @field_validator("market_protection")
    @classmethod
    def _mp(cls, v: Decimal) -> Decimal:
        if not (v == -1 or 0 < v <= 100):
            raise ValueError("must be -1 (automatic) or a percent above 0 and at most 100 (0 is rejected by Kite since 2026-04-01)")
        return v


class ApprovalConfig(Section):
    mode: Literal["manual", "auto"] = Field("auto", description="manual: every order waits for a person on the approval "
                                           "dashboard; auto: orders the gate passes go straight out (paper; live needs "
                                           "allow_auto_in_live)")
    ttl_seconds: int = Field(300, gt=0, description="a pending approval expires after this many real seconds")
    price_drift_pct: Decimal = Field(Decimal("1.0"), ge=0, description="warn/re-confirm above this drift at approval")
    strategies: dict[str, Literal["manual", "auto"]] = Field(default_factory=dict, description="per-strategy override "
                                                             "of mode, e.g. {momo: manual}")
    approver: str | None = Field(None, description="name recorded on approvals; default: the OS user")
    allow_auto_in_live: bool = Field(False, description="live: let orders go out without a person's approval where mode "
                                     "(or the strategy's override) is auto; false = every live order is manual")


class ExecutionConfig(Section):
    square_off_time: str | None = Field(
        "15:15", pattern=r"^\d{2}:\d{2}$",
        description="tradekit closes MIS positions itself at this IST time, before the broker's cut-off (null: leave it to the broker)",
    )
    unknown_max_lookups: int = Field(3, ge=1, description="lookups by tag before an UNKNOWN order counts as not placed")
    charges_as_of: date | None = Field(
        None, description="price every fill at the rates in force on this date (for replays of days before 2020-07-01); "
        "default: each fill's own trade date",
    )
    unknown_grace_seconds: float = Field(30.0, ge=0, description="at least this long between the start of a resolution "
                                         "and concluding an order not placed")
    placement_timeout_seconds: float | None = Field(
        None, ge=0, description="the longest a placement can take from its journaling to its last byte sent (null: derived "
        "from the broker — kite.rate_limits.max_wait_seconds + kite.timeout_seconds × (1 + kite.rate_limits.retries_on_429) "
        "live, 0 on paper)")
    broker_processing_seconds: float = Field(
        15.0, ge=0, description="how long the broker may hold a request before acting on it; an order of unknown outcome "
        "is not concluded 'not placed' before sent + placement timeout + this window")
    shadow_paper: bool = Field(
        False, description="live: a shadow paper broker on the live feed takes every live signal, on its own journal "
        "(<run folder>/shadow/journal.db); the EOD report sets paper against live")


class LiveConfig(Section):
    allowed: bool = Field(False, description="second switch for live trading, next to mode: live")


class TickStoreConfig(Section):
    """Recording live ticks (``tradekit.data.tickstore``): Parquet per day, one file per flush holding
    every instrument, compacted into one file per day sorted by instrument."""

    enabled: bool = Field(True, description="record every live tick (live and paper-on-live sessions)")
    dir: Path = Field(Path("ticks"), description="the store's folder; relative paths are under data_dir")
    retention_days: int | None = Field(
        90, ge=1, description="days kept; older days are deleted when a session opens the store (null: keep all)")
    flush_seconds: float = Field(1.0, ge=0, description="seconds between writes; a crash loses at most this much")
    max_buffer: int = Field(200_000, ge=1, description="ticks buffered before a write, whatever the time")
    compact_parts: int = Field(64, ge=0, description="merge a day's flush files once it has this many (0: only at the day's end and on close)")
    record_paper: bool = Field(True, description="a paper session on recorded bars (tradekit paper --date) records "
                               "the quotes of its F&O contracts and index spots too (the option-chain page reads them)")


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="the level of tradekit's loggers")
    file: str | None = Field(None, description="also log to this file (IST stamps, secrets redacted); relative to "
                             "data_dir")


class BracketsConfig(Section):
    """Brackets and trailing stops (tradekit/execution/brackets.py)."""

    replace_after_modifications: int = Field(
        20, ge=1, le=24, description="a child order modified this many times is replaced (cancel + new) instead of "
        "modified again: Kite allows 25 modifications per order")
    trail_min_step_ticks: int = Field(1, ge=1, description="a trailing stop moves only by at least this many ticks")
    trail_min_interval_seconds: float = Field(5.0, ge=0, description="and at most once in this many seconds (order-rate budget)")
    atr_bar_seconds: int = Field(60, ge=1, le=86400, description="ATR trails: bars of this length built from the hub's marks")
    break_even_after_first_target: bool = Field(True, description="move the stop to the entry's average price once "
                                                "the first target has filled (BracketManager.submit(break_even=) overrides)")
    stop_order_type: Literal["SL-M", "SL"] = Field("SL-M", description="the stop child's order type (options always use SL)")
    stop_limit_buffer_pct: Decimal = Field(Decimal("1.0"), gt=0, le=20,
                                           description="SL stops: the limit price this % beyond the trigger")
    child_retry_seconds: float = Field(5.0, ge=0, description="a child the gate or broker refused is tried again after this")


class GttConfig(Section):
    """``gtt:`` — protection at the broker that survives a crash (issue 15, :mod:`tradekit.execution.gtt`)."""

    enabled: bool = Field(True, description="place a GTT OCO at the broker for CNC/NRML brackets and session.protect "
                                            "(false: neither places one, and tradekit gtt protect is refused)")
    stop_limit_buffer_pct: Decimal = Field(Decimal("1.0"), ge=0, le=20,
                                           description="the stop leg's LIMIT price this % beyond its trigger (a GTT places "
                                                       "LIMIT orders: room to fill on a fast fall)")


class TradekitConfig(Section):
    mode: Literal["paper", "live"] = Field("paper", description="paper (the default) or live; live also needs "
                                           "live.allowed: true and a valid Kite session")
    data_dir: Path = Field(Path("var"), description="the journal, heartbeat, signal inbox and caches; relative to the "
                           "config file")
    secrets_file: Path = Field(Path("~/.config/tradekit/secrets.env"), description="KEY=value file of API keys and "
                               "tokens (never in this YAML); mode 600")
    account: AccountConfig = Field(default_factory=AccountConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    orders: OrdersConfig = Field(default_factory=OrdersConfig)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    paper: PaperConfig = Field(default_factory=PaperConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    market_data: MarketDataConfig = Field(default_factory=MarketDataConfig)
    signals: SignalsConfig = Field(default_factory=SignalsConfig)
    kite: KiteConfig = Field(default_factory=KiteConfig)
    runs: RunsConfig = Field(default_factory=RunsConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    tick_store: TickStoreConfig = Field(default_factory=TickStoreConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    brackets: BracketsConfig = Field(default_factory=BracketsConfig)
    gtt: GttConfig = Field(default_factory=GttConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)  # issue 18: tradekit/alerts/config.py
    baskets: BasketsConfig = Field(default_factory=BasketsConfig)  # issue 21: tradekit/options/basket_config.py
    research: ResearchConfig = Field(default_factory=ResearchConfig)  # issue 20: tradekit/research/config.py
    expiry: ExpirySettings = Field(default_factory=ExpirySettings)  # issue 21: tradekit/options/expiry.py

    # set by the loader, not by YAML
    source: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _live_needs_two_switches(self) -> "TradekitConfig":
        if self.mode == "live" and not self.live.allowed:
            raise ValueError(
                "mode is live but live.allowed is false: live trading needs both `mode: live` and `live: {allowed: true}`"
            )
        if self.mode == "live" and self.approval.mode == "auto" and not self.approval.allow_auto_in_live:
            raise ValueError(
                "approval.mode is auto in live mode: set approval.allow_auto_in_live: true to let orders go out unattended"
            )
        return self

    @property
    def is_live(self) -> bool:
        return self.mode == "live"

    def store_url(self) -> str:
        """The journal: ``store.url`` or ``<data_dir>/<mode>.db`` — paper and live never share a journal."""
        from tradekit.store.accounts import with_account
        from tradekit.store.db import sqlite_url

        # store.account rides on the URL (?account=...), so every engine made from it opens that account
        return with_account(self.store.url or sqlite_url(self.data_dir / f"{self.mode}.db"), self.store.account)

    def approval_mode_for(self, strategy: str) -> str:
        return self.approval.strategies.get(strategy, self.approval.mode)
