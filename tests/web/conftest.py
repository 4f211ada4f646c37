"""Browser tests of the graph editor: Python Playwright driving Debian's Chromium (headless)
against a real `diffgraph serve` on a free loopback port, serving the built editor."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.server.conftest import needs_toy_model
from tests.server.harness import Server, call, make_home

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
BUILT = REPO / "web" / "dist" / "index.html"

if not BUILT.is_file():  # a setup step was skipped, not a reason to skip the tests
    raise pytest.UsageError(f"the editor is not built ({BUILT} is missing): run `make setup`")

pytestmark = [
    needs_toy_model,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed"),
]


@pytest.fixture(scope="module")
def editor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(make_home(tmp_path_factory.mktemp("editor"))).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, editor_server: Server, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (empty storage: the first visit) on the editor, 1280x800.
    Its screenshot is kept in test-artifacts/ whatever the outcome."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(editor_server.url + "/")
    opened.wait_for_selector(".react-flow__node[data-id=save]", timeout=30_000)
    yield opened
    ARTIFACTS.mkdir(exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"editor_{request.node.name}.png"))
    context.close()
    assert not errors, f"the page threw: {errors}"


def node(page: Any, node_id: str) -> Any:
    return page.locator(f".react-flow__node[data-id='{node_id}']")


def status_of(page: Any, node_id: str) -> str:
    return str(node(page, node_id).locator("[data-testid=node]").get_attribute("data-status"))


def wait_status(page: Any, node_id: str, *statuses: str, timeout: float = 120_000) -> None:
    """Wait until the node shows one of `statuses` (queued, running, cached, done, error)."""
    page.wait_for_function(
        "([id, wanted]) => wanted.includes(document.querySelector("
        "`.react-flow__node[data-id='${id}'] [data-testid=node]`)?.dataset.status)",
        arg=[node_id, list(statuses)],
        timeout=timeout,
    )


def handle(page: Any, node_id: str, name: str, kind: str) -> Any:
    return node(page, node_id).locator(f".react-flow__handle.{kind}[data-handleid='{name}']")


def settled_box(page: Any, locator: Any, timeout: float = 10.0) -> Any:
    """The locator's bounding box once it stops moving: the canvas fits its view with an
    animation after loading, and a drag aimed at where a handle was misses it."""
    deadline = time.monotonic() + timeout
    box = locator.bounding_box()
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        again = locator.bounding_box()
        if again == box:
            return box
        box = again
    raise AssertionError(f"{locator} kept moving for {timeout} s")


def drag(page: Any, source: Any, target: Any) -> None:
    """Press on one handle, move to the other in steps (as a hand would), release."""
    a, b = settled_box(page, source), settled_box(page, target)
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=12)
    page.mouse.up()


def save_as(page: Any, server: Server, name: str) -> dict[str, Any]:
    """Save through the Workflows dialog; the document as the server stored it."""
    page.click("[data-testid=workflows]")
    page.fill("[data-testid=save-name]", name)
    page.click("[data-testid=save-as]")
    page.wait_for_selector(f"[data-testid=toast]:has-text('saved {name}')")
    reply = call("GET", f"{server.url}/v1/workflows/user/{name}")
    assert reply.status == 200, reply.text
    return dict(reply.json())


def open_from_server(page: Any, source: str, name: str) -> None:
    page.click("[data-testid=workflows]")
    page.click(f"[data-testid=workflow-item][data-source={source}][data-name='{name}']")
    page.wait_for_selector("[data-testid=workflow-dialog]", state="detached")


def drop_file(page: Any, data: bytes, name: str, mime: str) -> None:
    """Drop a file on the canvas, as dragging it from the desktop does."""
    transfer = page.evaluate_handle(
        """([b64, name, mime]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: mime }));
            return dt;
        }""",
        [base64.b64encode(data).decode(), name, mime],
    )
    page.dispatch_event("main.canvas", "drop", {"dataTransfer": transfer})


def run_over_http(server: Server, workflow: dict[str, Any], timeout: float = 120.0) -> bytes:
    """Queue a workflow through the API, wait for it, return its first output PNG."""
    reply = call("POST", f"{server.url}/prompt", {"prompt": workflow})
    assert reply.status == 200, reply.text
    prompt_id = reply.json()["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = call("GET", f"{server.url}/history/{prompt_id}").json()
        if entry:
            picture = entry[prompt_id]["outputs"]["save"]["images"][0]
            view = call("GET", f"{server.url}/view?filename={picture['filename']}&type=output")
            assert view.status == 200
            return view.body
        time.sleep(0.2)
    raise AssertionError(f"job {prompt_id} did not finish in {timeout} s")
