"""Pieces both dashboards use: the refresh loop, stable CSS names, small HTML tables, the style."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import ipywidgets as w

from tradekit.clock import IST
from tradekit.model.money import fmt_inr

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def css_name(text: str) -> str:
    """A string usable inside a CSS class name (signal keys may hold ``.``, ``:`` and the like)."""
    return _UNSAFE.sub("_", str(text))


def set_if_changed(widget, **traits) -> None:
    """Assign traits only when they differ, so a refresh sends nothing over the websocket for no change."""
    for k, v in traits.items():
        if getattr(widget, k) != v:
            setattr(widget, k, v)


def esc(x) -> str:
    return html.escape("" if x is None else str(x))


def inr(x, places: int = 2) -> str:
    return "—" if x is None else fmt_inr(Decimal(str(x)), places)


def hhmmss(t: datetime | None) -> str:
    return "—" if t is None else t.astimezone(IST).strftime("%H:%M:%S")


def table(rows: Sequence[dict], columns: Sequence[str], *, css: str = "", empty: str = "none",
          money: Iterable[str] = (), signed: Iterable[str] = ()) -> str:
    """An HTML table; ``money`` columns are formatted in rupees, ``signed`` ones coloured by sign."""
    money, signed = set(money), set(signed)
    if not rows:
        return f'<div class="tk-empty {css}">{esc(empty)}</div>'
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for r in rows:
        tds = []
        for c in columns:
            v = r.get(c)
            text = inr(v) if c in money and v is not None and v != "" else esc("—" if v is None else v)
            cls = ""
            if c in signed and v not in (None, ""):
                try:
                    d = Decimal(str(v))
                    cls = ' class="tk-pos"' if d > 0 else (' class="tk-neg"' if d < 0 else "")
                except ArithmeticError:
                    cls = ""
            tds.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f'<table class="tk-table {css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# Scoped under .tk-root so it cannot leak into other widgets on the page.
STYLE = """
<style>
.tk-root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 13px; }
.tk-root .tk-bar { align-items: center; gap: 8px; flex-wrap: wrap; }
.tk-root .tk-badge { padding: 2px 8px; border-radius: 10px; font-weight: 600; }
.tk-root .tk-state-ACTIVE { background: #e6f4ea; color: #137333; }
.tk-root .tk-state-REDUCING { background: #fef7e0; color: #b06000; }
.tk-root .tk-state-HALTED { background: #fce8e6; color: #c5221f; }
.tk-root .tk-card { border: 1px solid #dadce0; border-radius: 8px; padding: 8px 12px; margin: 6px 0; background: #fff; }
.tk-root .tk-card.tk-decided { background: #f8f9fa; opacity: 0.9; }
.tk-root .tk-title { font-size: 14px; font-weight: 600; }
.tk-root .tk-meta { color: #5f6368; }
.tk-root .tk-table { border-collapse: collapse; margin: 2px 0; }
.tk-root .tk-table th, .tk-root .tk-table td { border-bottom: 1px solid #eee; padding: 2px 8px; text-align: right; }
.tk-root .tk-table th:first-child, .tk-root .tk-table td:first-child { text-align: left; }
.tk-root .tk-ok { color: #137333; } .tk-root .tk-fail { color: #c5221f; font-weight: 600; }
.tk-root .tk-pos { color: #137333; } .tk-root .tk-neg { color: #c5221f; }
.tk-root .tk-status { font-weight: 600; }
.tk-root .tk-status-error, .tk-root .tk-error { color: #c5221f; font-weight: 600; }
.tk-root .tk-warn { color: #b06000; }
.tk-root .tk-empty { color: #80868b; font-style: italic; }
.tk-root .tk-kpi { display: inline-block; margin-right: 18px; }
.tk-root .tk-kpi b { font-size: 18px; }
</style>
"""


class RefreshLoop:
    """Run ``self.refresh()`` on the kernel's asyncio loop while the page is open.

    Under Voila the notebook runs inside the kernel's event loop, so a task scheduled there
    keeps following the journal while the page is open. When the view's journal is a SQLite
    file on Linux (:meth:`watched_journal`), the loop sleeps until the session writes to it
    (inotify on the journal's folder, :func:`tradekit.store.follower.watch_journal`) and at
    most ``idle_interval`` seconds (the page clock, TTL bars, the liveness badge); nothing is
    polled in between. Otherwise (PostgreSQL, no inotify) it refreshes every ``interval``
    seconds. Errors are shown on the page and logged; the loop keeps going.
    """

    interval: float = 1.0
    idle_interval: float = 1.0  # with a watched journal: the longest pause without a change
    min_gap: float = 0.02  # with a watched journal: the shortest pause (a burst of writes is one refresh)
    _task = None
    wakeups = 0  # refreshes started by a journal change (tests, benchmarks)

    def refresh(self) -> bool:  # pragma: no cover - implemented by the views
        raise NotImplementedError

    def show_error(self, message: str) -> None:  # pragma: no cover - implemented by the views
        raise NotImplementedError

    def watched_journal(self):
        """The journal whose writes wake the loop (None: poll every ``interval``)."""
        return None

    def idle_pause(self) -> float:
        """With a watched journal: the longest pause without a change now (a view with a TTL
        counting down asks for less)."""
        return self.idle_interval

    def start(self):
        """Start refreshing in the background (needs a running asyncio loop, as in a kernel)."""
        if self._task is not None and not self._task.done():
            return self._task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop()
        self._task = loop.create_task(self._run())
        return self._task

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _watch(self):
        try:
            from tradekit.store.follower import watch_journal

            j = self.watched_journal()
            return None if j is None else watch_journal(j)
        except Exception:  # noqa: BLE001 - no watch: poll
            log.exception("journal watch unavailable; polling")
            return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        watch = self._watch()
        changed = asyncio.Event()
        if watch is not None:
            def on_change() -> None:
                try:
                    if watch.read():
                        changed.set()
                except Exception:  # noqa: BLE001
                    changed.set()

            loop.add_reader(watch.fileno(), on_change)
        failures = 0
        try:
            while True:
                t0 = time.monotonic()
                changed.clear()
                try:
                    self.refresh()
                    failures = 0
                except Exception as e:  # noqa: BLE001 - keep refreshing; show what went wrong
                    failures += 1
                    log.exception("dashboard refresh failed")
                    self.show_error(f"refresh failed ({failures}×): {type(e).__name__}: {e}")
                spent = time.monotonic() - t0
                if failures:  # back off while the store keeps failing (e.g. locked or gone), up to 10 s
                    await asyncio.sleep(max(0.01, min(10.0, self.interval * 2 ** min(failures, 6)) - spent))
                elif watch is None:
                    await asyncio.sleep(max(0.01, self.interval - spent))
                else:
                    try:
                        await asyncio.wait_for(changed.wait(), timeout=max(0.01, self.idle_pause() - spent))
                        self.wakeups += 1
                        await asyncio.sleep(max(0.0, self.min_gap - (time.monotonic() - t0)))
                    except asyncio.TimeoutError:
                        pass
        finally:
            if watch is not None:
                try:
                    loop.remove_reader(watch.fileno())
                except Exception:  # noqa: BLE001 - the loop is closing
                    pass
                watch.close()


def error_panel(title: str, message: str) -> w.HTML:
    """A visible error in place of a dashboard that could not be built."""
    box = w.HTML(f'<div class="tk-root"><h3>{esc(title)}</h3><div class="tk-error">{esc(message)}</div></div>')
    box.add_class("tk-root")
    box.add_class("tk-error")
    return box


_CAL_FLAGS: dict = {}


def calendar_flag(config, day) -> str:
    """`` · provisional calendar`` (HTML, the note as its tooltip) when ``day``'s year has no
    published holiday list in the config's calendar; empty otherwise."""
    if config is None or day is None:
        return ""
    key = (id(config), day)
    if key not in _CAL_FLAGS:
        try:
            from tradekit.market.calendar import calendar_for

            note = calendar_for(config).day_info(day).get("note")
        except Exception:  # noqa: BLE001 - a flag, never a reason for the page to fail
            note = None
        _CAL_FLAGS[key] = (f' · <b class="tk-warn tk-provisional-calendar" title="{esc(note)}">provisional calendar</b>'
                           if note else "")
    return _CAL_FLAGS[key]
