"""The page served at / while the editor is not built renders the default workflow, in a
real browser (Debian's Chromium through Playwright) against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.server.conftest import needs_toy_model
from tests.server.harness import Server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"

pytestmark = [
    needs_toy_model,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed"),
]


def test_the_page_renders_the_default_workflow_with_a_changed_prompt(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server.url + "/")
            page.wait_for_selector("#queue:not([disabled])", timeout=30_000)
            assert "circle" in page.input_value("#text")
            page.fill("#text", "a small yellow triangle on the top, black background")
            page.click("#queue")
            page.wait_for_function(
                "document.querySelector('#images img')?.naturalWidth > 0", timeout=120_000
            )
            page.wait_for_function("document.querySelector('#state').textContent === 'done'")
            page.screenshot(path=str(ARTIFACTS / "fallback_page.png"))
            sources = page.eval_on_selector_all("#images img", "els => els.map(e => e.src)")
        finally:
            browser.close()
    assert sources and all("/view?" in s for s in sources)
