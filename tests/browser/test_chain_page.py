"""The option-chain page in a real headless Chromium: Voila started as ``tradekit serve`` starts it, over a tick
store holding recorded NIFTY option quotes (full-mode ticks as the market-data hub records them)."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest

from tests.unit.options.recorded_chain import AT, chain_ticks, option_tick, record
from tradekit.ui.harness import loopback_only

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


@pytest.fixture(scope="module")
def chain_server(tmp_path_factory, artifacts):
    from tradekit.ui.cli import serve

    folder = tmp_path_factory.mktemp("chainpage")
    cfg = folder / "chain.yaml"
    cfg.write_text(f"extends: tradekit:default.yaml\ndata_dir: {folder / 'var'}\n")
    record(folder / "var" / "ticks", chain_ticks())
    (folder / "home").mkdir()
    log = open(artifacts / "voila-chain.log", "w")
    srv = serve(cfg, port=0, token=secrets.token_urlsafe(16), show_tracebacks=True, stdout=log, stderr=log,
                env={"HOME": str(folder / "home"), "NO_PROXY": "127.0.0.1,localhost"})
    yield srv, folder
    srv.stop()
    log.close()


def test_the_chain_page_shows_the_recorded_strikes_with_their_iv(chain_server, browser, artifacts):
    srv, folder = chain_server
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = ctx.new_page()
    loopback_only(page)
    try:
        page.goto(srv.url("chain"), timeout=60_000)
        table = page.locator(".tk-chain-table table.tk-chain")
        expect(table).to_be_visible(timeout=60_000)
        strikes = [s.strip() for s in page.locator(".tk-chain-table th.strike").all_inner_texts()]
        assert {"24,600.00", "24,850.00", "25,100.00"} <= set(strikes)
        expect(page.locator(".tk-chain-table tr.atm th.strike")).to_have_text("24,850.00")
        iv = page.locator(".tk-chain-table tr.atm td.ce.c-iv").inner_text()
        assert re.fullmatch(r"1[23]\.\d %", iv), iv  # the 13 % the quotes were priced at
        expect(page.locator(".tk-chain-header")).to_contain_text("put-call parity")
        expect(page.locator(".tk-chain-header")).to_contain_text("not today")  # 2026-08-17's quotes
        assert page.locator(".tk-chain-page button").count() == 0  # read-only
        # a quote recorded while the page is open reaches it on its own refresh
        record(folder / "var" / "ticks", [option_tick(24850, "CE", at=AT + timedelta(minutes=1), ltp=99.0)],
               clock_at=AT + timedelta(minutes=1))
        expect(page.locator(".tk-chain-table tr.atm td.ce.c-ltp")).to_have_text("99.00", timeout=20_000)
        page.screenshot(path=str(artifacts / "chain-page.png"), full_page=True)
    finally:
        ctx.close()
