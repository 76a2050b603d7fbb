"""A paper desk and a headless browser for the dashboard tests and the approval benchmark.

:class:`PaperDesk` is what a trader runs next to the dashboards, in one object: a config file
in a scratch folder, a paper session replaying a bundled day through
:class:`~tradekit.runs.live.PaperSessionRunner` (paced, in a thread: it takes inbox files and
acts on decisions), and helpers to drop signal files. :func:`launch_chromium` starts Debian's
Chromium through Playwright (never ``playwright install``: no browser downloads).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def find_chromium() -> str | None:
    """Debian's Chromium, or None when it is not installed."""
    for p in (shutil.which("chromium"), "/usr/bin/chromium"):
        if p and Path(p).exists():
            return p
    return None


def launch_chromium(playwright):
    """A headless Chromium browser from a ``sync_playwright()`` handle."""
    path = find_chromium()
    if path is None:
        raise RuntimeError("chromium is not installed (scripts/ensure-system-deps installs it from Debian)")
    return playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)


def loopback_only(page) -> None:
    """Abort every request that leaves 127.0.0.1 (the lab template links a CDN stylesheet)."""
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1")
               else route.abort())


def card_id(page, signal_key: str, timeout_ms: float = 20_000) -> str:
    """Wait for the card of a signal and return its client order id."""
    from tradekit.ui._common import css_name

    sel = f".tk-sig-{css_name(signal_key)}"
    page.wait_for_selector(sel, timeout=timeout_ms)
    classes = page.get_attribute(sel, "class") or ""
    return next(c[len("tk-card-"):] for c in classes.split() if c.startswith("tk-card-"))


def write_signal(folder: Path, name: str, records) -> Path:
    """Drop a signal file the way writers should: a temporary name, then an atomic rename."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps(records))
    final = folder / name
    tmp.rename(final)
    return final


def watch_placements(broker, placed: dict, placed_wall: dict) -> None:
    """Record when ``broker`` accepted each order (perf_counter and wall time), by client order id."""
    place = broker.place_order

    def timed(cid, request):
        out = place(cid, request)
        placed.setdefault(cid, time.perf_counter())
        placed_wall.setdefault(cid, time.time())
        return out

    broker.place_order = timed


class PaperDesk:
    """A paced paper session on a bundled day, with manual approvals and a fast inbox.

    Parameters
    ----------
    folder : Path
        Scratch folder: config, journal, inbox.
    day, symbol : date, str
        The bundled 1-minute day to replay.
    speed : float
        Session seconds per wall second.
    ttl_seconds : int
        Approval TTL (session seconds): the wall-time window to approve is ``ttl_seconds / speed``.
    inbox_poll, settle : float, optional
        ``signals.poll_interval_seconds`` / ``settle_seconds``; None (the default): the
        shipped defaults, as a trader runs it (the runner scans the inbox on every service
        pass and a file landing wakes it).
    """

    def __init__(self, folder: Path, *, day: date = date(2016, 8, 16), symbol: str = "RELIANCE", speed: float = 60.0,
                 ttl_seconds: int = 480, inbox_poll: float | None = None, settle: float | None = None,
                 approver: str = "asha", extra_yaml: str = ""):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.symbol = symbol
        self.key = f"NSE:{symbol}"
        self.day = day
        self.speed = speed
        self.config_path = self.folder / "tradekit.yaml"
        signals = {k: v for k, v in (("poll_interval_seconds", inbox_poll), ("settle_seconds", settle)) if v is not None}
        self.config_path.write_text(
            "extends: tradekit:default.yaml\n"
            f"data_dir: {self.folder / 'var'}\n"
            f"approval: {{mode: manual, ttl_seconds: {ttl_seconds}, approver: {approver}}}\n"
            "execution: {charges_as_of: 2024-01-02}\n"  # the bundled days predate the rate tables
            + (f"signals: {{{', '.join(f'{k}: {v}' for k, v in signals.items())}}}\n" if signals else "")
            + "paper: {latency_ms: 0}\n" + extra_yaml)
        self.runner = None
        self.session = None
        self._n = 0
        self.placed: dict[str, float] = {}  # client order id -> perf_counter when the broker took it
        self.placed_wall: dict[str, float] = {}  # the same moment as wall time (to compare with the browser's clock)

    @property
    def inbox(self) -> Path:
        return self.cfg.signals.inbox_path(self.cfg.data_dir)

    def start(self) -> "PaperDesk":
        from tradekit.clock import SimClock
        from tradekit.config import load_config
        from tradekit.data.store import load_symbol_bars
        from tradekit.runs.live import PaperSessionRunner
        from tradekit.session import Session
        from tradekit.signals import Inbox, SignalPipeline

        self.cfg = load_config(self.config_path)
        bars = load_symbol_bars(f"NSE:{self.symbol}", "1min", data_dir=self.cfg.data_dir, start=self.day, end=self.day)
        self.bars = bars
        s = Session.from_config(self.cfg, clock=SimClock(bars.index[0].to_pydatetime()), mode="paper")
        self._watch_broker(s)
        pipe = SignalPipeline(s.journal, self.cfg, sink=s.submit_signal, emit=s._emit, clock=s.clock)
        inbox = Inbox.from_settings(self.cfg.signals, self.cfg.data_dir, pipe)
        self.session, self.pipeline = s, pipe
        self.runner = PaperSessionRunner(s, {self.key: bars}, speed=self.speed, pipeline=pipe, inbox=inbox).start()
        return self

    def _watch_broker(self, session) -> None:
        watch_placements(session.broker, self.placed, self.placed_wall)

    def price(self) -> float:
        """The close of the bar the session is at (a sensible reference price)."""
        now = self.session.clock.now()
        past = self.bars[self.bars.index <= now]
        return float((past if len(past) else self.bars)["close"].iloc[-1])

    def record(self, key: str | None = None, **kw) -> dict:
        """A signal record stamped with the session's clock."""
        self._n += 1
        return {"idempotency_key": key or f"desk-{self._n}", "strategy": "momo",
                "signal_time": self.session.clock.now().isoformat(), "symbol": self.symbol, "side": "BUY",
                "quantity": 1, "order_type": "MARKET", "product": "CNC", "reference_price": round(self.price(), 2), **kw}

    def drop(self, *records: dict) -> Path:
        """Write records as one file into the inbox (atomically)."""
        self._n += 1
        return write_signal(self.inbox, f"sig-{self._n}-{int(time.time() * 1000)}.json", list(records))

    def queue(self):
        """An :class:`~tradekit.execution.approval.ApprovalQueue` on its own connection (as a dashboard)."""
        from tradekit.execution.approval import ApprovalQueue

        return ApprovalQueue.from_config(self.cfg)

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0, every: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(every)
        return predicate()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            try:
                self.runner.join(15)
            finally:
                self.session.close()
                self.runner = None

    def __enter__(self) -> "PaperDesk":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
