"""First paint of the dashboards in a real browser: the skeleton, then the widgets, over several loads.

Setup (all on 127.0.0.1): a paced paper session replaying a bundled day (×5, shipped defaults)
in a thread of this process (:class:`tradekit.ui.harness.PaperDesk`); ``tradekit serve``
(Voila, the tradekit template); Debian's headless Chromium through Playwright. Each load is a
fresh browser context (no cache, a new kernel), as a trader opening the page. Measured from
the navigation's start, on the page's own clock (``performance.now()``):

- ``first_paint``: the browser's first contentful paint (the skeleton Voila streams before the
  kernel starts). Target: under 2 s at p95 (issue 17).
- ``skeleton_visible``: the skeleton element is in the page with a size.
- ``widgets_ready``: the dashboard's own widgets are on the page (``.tk-pending-count`` on the
  approval page, ``.tk-pnl-net`` on the P&L page), the skeleton gone: the kernel started,
  ran the notebook and the widgets rendered.

One load before the measured ones is not counted: the server's first page compiles Voila's
templates (kept compiled afterwards, :func:`tradekit.ui.voila_main.compile_templates_once`).

Run: ``.venv/bin/python -m benchmarks firstpaint`` (a few minutes; each load starts a kernel).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from benchmarks._stats import latency_stats, print_latencies

N_LOADS = 8
TARGET_FIRST_PAINT_MS = 2000.0
PAGES = {"approval": ".tk-pending-count", "pnl": ".tk-pnl-net"}

# Installed before any page script: stamps (ms since the navigation started) when the skeleton
# and the widgets first appear.
_PROBE = """(() => {
  window.__tkPaint = {};
  const READY = %r;
  const look = () => {
    const t = performance.now(), s = document.querySelector('.tk-skeleton');
    if (s && !('skeleton' in window.__tkPaint) && s.getBoundingClientRect().height > 0) window.__tkPaint.skeleton = t;
    if (!('ready' in window.__tkPaint) && document.querySelector(READY)) window.__tkPaint.ready = t;
  };
  new MutationObserver(look).observe(document, {subtree: true, childList: true});
  document.addEventListener('DOMContentLoaded', look);
})();"""


def load_once(browser, url: str, ready_selector: str) -> dict[str, float]:
    """One cold load of ``url``; seconds from the navigation's start to each milestone."""
    from tradekit.ui.harness import loopback_only

    ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        ctx.add_init_script(_PROBE % ready_selector)
        page = ctx.new_page()
        loopback_only(page)
        page.goto(url, wait_until="commit", timeout=60_000)
        page.wait_for_selector(ready_selector, timeout=120_000)
        page.wait_for_function("window.__tkPaint && 'ready' in window.__tkPaint", timeout=10_000)
        marks = page.evaluate("""(() => { const p = performance.getEntriesByName('first-contentful-paint')[0];
            return Object.assign({fcp: p ? p.startTime : null}, window.__tkPaint); })()""")
        return {"first_paint": (marks["fcp"] or float("nan")) / 1000, "skeleton_visible": marks.get("skeleton", float("nan")) / 1000,
                "widgets_ready": marks["ready"] / 1000}
    finally:
        ctx.close()


def run(n_loads: int = N_LOADS, pages: tuple[str, ...] = ("approval", "pnl")) -> dict:
    """Load each page ``n_loads`` times; return p50/p95 per milestone in milliseconds (and print them)."""
    from playwright.sync_api import sync_playwright

    from tradekit.ui.cli import serve
    from tradekit.ui.harness import PaperDesk, find_chromium, launch_chromium

    if find_chromium() is None:
        raise RuntimeError("chromium is not installed (scripts/ensure-system-deps)")
    out: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-firstpaint-"))
    desk = PaperDesk(tmp / "paper", speed=5.0, ttl_seconds=3600).start()
    home = tmp / "home"
    home.mkdir()
    log = open(tmp / "voila.log", "w")
    # closed pages' kernels go within a few seconds, so loads do not pile kernels up
    srv = serve(desk.config_path, port=0, stdout=log, stderr=log, env={"HOME": str(home)}, closed_timeout=2,
                cull_interval=1)
    pw = sync_playwright().start()
    browser = launch_chromium(pw)
    try:
        load_once(browser, srv.url("approval"), PAGES["approval"])  # warm the disk cache and lazy imports
        for name in pages:
            marks: dict[str, list[float]] = {"first_paint": [], "skeleton_visible": [], "widgets_ready": []}
            for _ in range(n_loads):
                m = load_once(browser, srv.url(name), PAGES[name])
                for k, v in m.items():
                    if not math.isnan(v):
                        marks[k].append(v)
                time.sleep(0.5)
            for k, xs in marks.items():
                if xs:
                    out[f"{name}_{k}"] = latency_stats(xs, (50, 95), 1)
            out[f"{name}_first_paint_meets_2s_p95"] = out[f"{name}_first_paint"]["p95_ms"] <= TARGET_FIRST_PAINT_MS
    finally:
        browser.close()
        pw.stop()
        srv.stop()
        desk.stop()
        log.close()
    print_latencies(out)
    for name in pages:
        met = "met" if out.get(f"{name}_first_paint_meets_2s_p95") else "NOT met"
        print(f"{name + ' first paint p95 target':>34}: ≤ {TARGET_FIRST_PAINT_MS:.0f} ms: {met}")
    return out


if __name__ == "__main__":
    run()
