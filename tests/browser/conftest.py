"""Browser fixtures: one paper desk, one Voila server and one headless Chromium per module.

Plain ``playwright.sync_api`` (not pytest-playwright: see docs/style pitfall 13). Skipped, with
the reason, when Debian's chromium or playwright is missing; CI installs chromium through
``scripts/ensure-system-deps``.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest

from tradekit.ui.harness import PaperDesk, find_chromium, launch_chromium, loopback_only

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

# The approval window is TTL / speed = 8 s of wall time: long enough to click, short enough to
# watch a proposal expire. Bars go by at one per second, so approved market orders fill fast.
SPEED = 60.0
TTL = 480


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    reason = None
    if find_chromium() is None:
        reason = "chromium is not installed (run scripts/ensure-system-deps; CI installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install -e .[dev])"
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    d = PaperDesk(tmp_path_factory.mktemp("desk"), speed=SPEED, ttl_seconds=TTL).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def voila(desk, artifacts):
    from tradekit.ui.cli import serve

    log = open(artifacts / "voila.log", "w")
    home = desk.folder / "home"
    home.mkdir(exist_ok=True)
    # an explicit token: tests never read a developer's secrets file
    srv = serve(desk.config_path, port=0, token=secrets.token_urlsafe(16), show_tracebacks=True, stdout=log,
                stderr=log, env={"HOME": str(home), "NO_PROXY": "127.0.0.1,localhost"})
    yield srv
    srv.stop()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    logging.getLogger("asyncio").setLevel(logging.WARNING)
    pw = sync_playwright().start()
    b = launch_chromium(pw)
    yield b
    b.close()
    pw.stop()


@pytest.fixture(scope="module")
def approval_page(browser, voila):
    """One approval page for the module's tests (every page load costs a kernel start)."""
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = ctx.new_page()
    loopback_only(page)
    page.goto(voila.url("approval"), timeout=60_000)
    page.wait_for_selector(".tk-pending-count", timeout=60_000)
    yield page
    ctx.close()


@pytest.fixture
def new_page(browser):
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = ctx.new_page()
    loopback_only(page)
    yield page
    ctx.close()
