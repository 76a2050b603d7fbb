"""The Session's live lifecycle: the broker's order stream and ticker, reconciliation, a new login, anchors.

A mixin of :class:`tradekit.session.Session` (split out of ``session.py`` by responsibility; every
method is still ``Session.x``). Paper needs none of it except :meth:`~LiveLifecycle.anchors`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tradekit.clock import IST
from tradekit.model.enums import TradingMode
from tradekit.store import EventType as E

if TYPE_CHECKING:  # pragma: no cover
    from tradekit.session import Session

log = logging.getLogger("tradekit.session")


class LiveLifecycle:
    """Live start, market attach, login and anchor publishing of a :class:`~tradekit.session.Session`."""

    # -- live lifecycle ----------------------------------------------------------------------------
    def start(self, *, reconcile_every: float | None = None) -> "Session":
        """Live: refuse orders until logged in, start the order-update stream, reconcile now and every N s.

        Paper needs nothing here. The session refuses new orders while a reconciliation
        mismatch is unresolved (the reconciler names it) or the broker session is gone. The
        token file is watched: a ``tradekit kite login`` from another process reaches this
        session (:meth:`after_login`) and lifts the block.
        """
        if self.mode is not TradingMode.LIVE:
            return self
        self._reconcile_every = reconcile_every
        self._started = True
        watch = getattr(self.broker, "watch_tokens", None)
        if watch is not None:
            watch(self.after_login)
        pub = self.anchors()
        if pub is not None:  # live: anchors leave the database every few minutes
            pub.start()
        if not getattr(self.broker, "logged_in", True):
            self.oms.block_new_orders(self.broker.session_status())
            return self
        self._go_live()
        return self

    def _go_live(self) -> None:
        from tradekit.brokers.kite.reconcile import Reconciler

        self.broker.start_updates()
        self._attach_market()
        every = getattr(self, "_reconcile_every", None)
        interval = self.config.kite.reconcile_interval_seconds if every is None else every
        self.reconciler = Reconciler(self.broker, self.book, oms=self.oms, emit=self._emit, clock=self.clock,
                                     interval=interval)
        if getattr(self, "gtt", None) is not None:  # GTT legs that fired while away are adopted before the book is compared
            self.gtt.reconciler = self.reconciler
            self.reconciler.on_report.append(self.gtt.on_reconcile_report)
            self.gtt.reconcile()
        self.reconciler.run_once()
        if interval:
            self.reconciler.start()
        if self.risk is not None and self.config.risk.var.fetch_history and hasattr(self.broker, "historical"):
            import threading

            threading.Thread(target=self.fetch_var_history, name="var-history", daemon=True).start()

    def fetch_var_history(self) -> dict[str, str]:
        """Live: the daily bars of every held instrument from Kite's historical API into the data
        directory (only the days it lacks; ``risk.var.history_days``), then the day's VaR model again,
        so VaR covers the real holdings. Returns what happened per instrument (also journaled)."""
        from datetime import timedelta

        from tradekit.data.fetch import fetch_bars

        day = self.clock.now().date()
        held = sorted({f"{p.exchange}:{p.tradingsymbol}" for p in self.book.positions.values() if p.quantity})
        out: dict[str, str] = {}
        for key in held:
            try:
                r = fetch_bars(self.broker, key, day - timedelta(days=self.config.risk.var.history_days),
                               day - timedelta(days=1), self.config.data_dir, timeframe="1d", calendar=self.calendar,
                               today=day)
                out[key] = r.summary()
            except Exception as e:  # noqa: BLE001 - one instrument's failure leaves the others and says why
                out[key] = f"not fetched: {e}"
        if held and self.risk is not None:
            from tradekit.risk.var import coverage, exposures_from_book

            with self.oms._lock:  # the session's threads apply journal events under the OMS lock
                self.risk.rebuild_var(day)
                vm = self.risk.gate.var_model
                cov = None if vm is None else round(coverage(exposures_from_book(self.book), vm.symbols)["pct"], 1)
                self._guard(lambda: self._emit(E.NOTE, {"text": "daily history for VaR", "instruments": out,
                                                        "var_coverage_pct": cov}))
        return out

    def _attach_market(self) -> None:
        """Live: the broker's ticker feeds the market-data hub (once), with the watchlist, the
        indices and the book's instruments subscribed."""
        if hasattr(self.broker, "feed") and getattr(self.broker, "market", None) is None:
            from tradekit.marketdata.kite import attach_kite

            attach_kite(self.broker, self.market)
        if self.market.tick_store is None:  # every live tick recorded (tick_store: in the config)
            from tradekit.data.tickstore import open_tick_store

            self.market.tick_store = self._tick_store = open_tick_store(self.config, self.clock)
            if self._tick_store is not None:
                self._tick_store.prune(self.clock.now().date())
        self.market.want_defaults()
        self.market.follow_book()

    def after_login(self) -> None:
        """A new broker login (also one from another process: the token file is watched): lift the
        lost-session block, start the market data and what waited for the login, resume resolving
        orders of unknown outcome, reconcile again."""
        if self.journal_down is None:
            self.oms.block_new_orders(None)
        if self.mode is TradingMode.LIVE and getattr(self.broker, "logged_in", False):
            self._attach_market()
        self.oms.resolve_unknown()
        rec = getattr(self, "reconciler", None)
        if rec is not None:
            rec.run_once()
        elif getattr(self, "_started", False):
            self._go_live()

    def anchors(self):
        """The :class:`~tradekit.store.audit.AnchorPublisher` of the journal this session owns (None otherwise)."""
        pub = getattr(self, "_anchor_pub", None)
        if pub is None and self.journal.lease is not None:
            from tradekit.store.audit import AnchorLog, AnchorPublisher, anchor_log_path

            from tradekit.store.accounts import describe, with_account

            url = with_account(self.journal.engine.url.render_as_string(hide_password=True), self.journal.account)
            path = anchor_log_path(url, self.config.data_dir, self.config.store.anchor_log)  # one log per account
            pub = self._anchor_pub = AnchorPublisher(
                self.journal, AnchorLog(path), interval=self.config.store.anchor_interval_seconds,
                name=describe(self.journal.engine), listeners=self.anchor_listeners,
                today=lambda: self.clock.now().astimezone(IST).date())
        return pub
