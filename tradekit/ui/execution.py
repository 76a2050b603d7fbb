"""The execution-quality dashboard (``dashboards/execution.ipynb``), two tabs: **Execution
quality** (implementation shortfall by strategy and symbol, latency by stage (p50/p95/p99) and
the seed's targets, met or not, from :mod:`tradekit.monitoring.execution`) and **Alerts** (every
alert with its priority, each channel's delivery and its acknowledgement,
:mod:`tradekit.ui.alerts`), with the alert toasts every page carries; refreshed as the journal
grows."""

from __future__ import annotations

import logging
import math

import ipywidgets as w

from tradekit.monitoring.execution import (TARGETS, implementation_shortfall, latency_breakdown, latency_stats,
                                           shortfall_summary, success_metrics)
from tradekit.store.follower import JournalFollower
from tradekit.store.journal import Event
from tradekit.ui._common import STYLE, RefreshLoop, esc, set_if_changed, table

log = logging.getLogger(__name__)


class ExecutionModel(JournalFollower):
    """The journal's events, kept in step; the tables are computed from them on demand."""

    def __init__(self, journal, config=None):
        super().__init__(journal)
        self.config = config
        self.events: list[Event] = []

    def _apply(self, ev: Event) -> None:
        self.events.append(ev)
        self.seq = ev.seq


def _f(x, places: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):,.{places}f}"


class ExecutionView(RefreshLoop):
    """Shortfall, latency and targets; display ``view.widget``, ``view.start()`` to follow the journal."""

    min_gap = 1.0  # the tables are recomputed from every event: at most once a second
    idle_interval = 2.0

    def watched_journal(self):
        return self.model.journal

    def __init__(self, model: ExecutionModel, *, interval: float = 2.0):
        self.model = model
        self.interval = interval
        self.error = w.HTML()
        self.error.add_class("tk-view-error")
        self.targets = w.HTML()
        self.targets.add_class("tk-exec-targets")
        self.shortfall = w.HTML()
        self.shortfall.add_class("tk-exec-shortfall")
        self.latency = w.HTML()
        self.latency.add_class("tk-exec-latency")
        self.orders = w.HTML()
        self.orders.add_class("tk-exec-orders")
        from tradekit.ui.alerts import AlertToasts, alerts_table_html, writable_journal
        from tradekit.ui.cards import CARD_STYLE, PageLiveness

        self._alerts_html = alerts_table_html
        self.live = PageLiveness()  # RUNNING / NO SESSION and the kernel beat the page's script watches
        self.toasts = AlertToasts(model.journal, writable_journal(model.journal, model.config))
        self.alerts = w.HTML()
        self.alerts.add_class("tk-alerts-list")
        self._alerts_version = -1
        quality = w.VBox([
            w.HTML("<h4>Targets</h4>"), self.targets,
            w.HTML("<h4>Implementation shortfall by strategy and symbol (₹; bps of the decision value)</h4>"), self.shortfall,
            w.HTML("<h4>Latency by stage (ms)</h4>"), self.latency,
            w.HTML("<h4>Orders</h4>"), self.orders,
        ])
        quality.add_class("tk-exec-quality")
        alerts = w.VBox([w.HTML('<h4>Alerts, newest first: priority, deliveries per channel, acknowledgement '
                                '(acknowledge from a toast, <code>tradekit alerts ack ID</code> or a Telegram '
                                'reply)</h4>'), self.alerts])
        alerts.add_class("tk-exec-alerts")
        self.tabs = w.Tab(children=[quality, alerts])
        self.tabs.titles = ("Execution quality", "Alerts")
        self.tabs.add_class("tk-exec-tabs")
        head = w.HBox([w.HTML("<h3 style='margin:4px 12px 4px 0'>Execution quality</h3>"), self.live.badge])
        head.add_class("tk-bar")
        self.widget = w.VBox([w.HTML(STYLE + CARD_STYLE), self.toasts.widget, self.live.beat, head, self.error, self.tabs])
        self.widget.add_class("tk-root")
        self.refresh(force=True)

    @classmethod
    def from_config(cls, config=None, **kw):
        """Build from the config (``$TRADEKIT_CONFIG`` by default); a broken setup shows an error panel."""
        from tradekit.ui.approval import _Broken

        try:
            from tradekit.config import TradekitConfig, load_config
            from tradekit.store.audit import open_read_only

            cfg = config if isinstance(config, TradekitConfig) else load_config(config)
            return cls(ExecutionModel(open_read_only(cfg.store_url()), cfg), **kw)
        except Exception as e:  # noqa: BLE001
            log.exception("execution dashboard could not start")
            return _Broken("Execution quality", f"{type(e).__name__}: {e}")

    def show_error(self, message: str) -> None:
        set_if_changed(self.error, value=f'<div class="tk-error">{esc(message)}</div>' if message else "")

    def refresh(self, *, force: bool = False) -> bool:
        new = self.model.refresh()
        self.live.update(self.model.config, getattr(self.model.journal, "engine", None))
        self.toasts.update(self.model.seq)
        feed = self.toasts.feed
        if feed.version != self._alerts_version:
            self._alerts_version = feed.version
            set_if_changed(self.alerts, value=self._alerts_html(feed))
            n = sum(1 for a in feed.outbox.alerts.values() if a.acked is None and a.ack_requested is None)
            self.tabs.titles = ("Execution quality", f"Alerts ({n} unacknowledged)" if n else "Alerts")
        if not new and not force:
            return False
        evs = self.model.events
        m = success_metrics(evs)
        rows = []
        for r in m.itertuples():
            unit = TARGETS[r.metric][2]
            met = {True: '<span class="tk-ok">met</span>', False: '<span class="tk-fail">not met</span>'}.get(r.met, "—")
            rows.append(f"<tr><td>{esc(r.metric.replace('_', ' '))}</td><td>{_f(r.value, 2)} {esc(unit)}</td>"
                        f"<td>{esc(r.target)}</td><td class='tk-met-{r.metric}'>{met}</td></tr>")
        set_if_changed(self.targets, value="<table class='tk-table'><thead><tr><th>metric</th><th>value</th><th>target</th>"
                                           "<th></th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
        sf = implementation_shortfall(evs)
        summ = shortfall_summary(sf, ["strategy", "key"])
        set_if_changed(self.shortfall, value=table(
            [{**r, "total_bps": _f(r["total_bps"]), "delay_bps": _f(r["delay_bps"]), "trading_bps": _f(r["trading_bps"])}
             for r in summ.to_dict("records")],
            ["strategy", "key", "orders", "filled_qty", "delay_cost", "trading_cost", "opportunity_cost", "fees", "total",
             "delay_bps", "trading_bps", "total_bps"],
            money=("delay_cost", "trading_cost", "opportunity_cost", "fees", "total"),
            signed=("total",), empty="no orders sent yet"))
        lat = latency_stats(latency_breakdown(evs))
        set_if_changed(self.latency, value=table(
            [{"stage": r["stage"], "count": r["count"], **{k: _f(r[k]) for k in ("p50", "p95", "p99", "max")}}
             for r in lat.to_dict("records")], ["stage", "count", "p50", "p95", "p99", "max"]))
        set_if_changed(self.orders, value=table(
            [{**r, "total_bps": _f(r["total_bps"])} for r in sf.tail(50).to_dict("records")],
            ["client_order_id", "strategy", "key", "side", "ordered_qty", "filled_qty", "status", "decision_price",
             "arrival_price", "avg_fill_price", "total", "total_bps"],
            money=("decision_price", "arrival_price", "avg_fill_price", "total"), signed=("total",),
            empty="no orders sent yet"))
        self.show_error("")
        return True
