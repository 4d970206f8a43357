"""The leaderboard page in headless Chromium, from file:// and from a localhost server: sorting, rows, images."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "reports"))
from fixture_run import make_run  # noqa: E402

from biasbench.reports.leaderboard import write_leaderboard  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OTHER_MODELS = {"model-c": (False, {("male", "Asian"): -0.2}), "model-d": (False, {})}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """/usr/bin/chromium, installed with apt-get when missing (skips only when installing is impossible)."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.skip("Chromium is not installed and cannot be installed here (needs root and apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"], env=env, capture_output=True, text=True
        )
        if install.returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True)
            install = subprocess.run(
                ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                env=env,
                capture_output=True,
                text=True,
            )
        if install.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(f"apt-get could not install chromium: {install.stderr.strip().splitlines()[-1:]}")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path, tmp_path_factory: pytest.TempPathFactory):
    """Module-scoped on purpose: Playwright's sync API keeps an event loop marked running in the main
    thread while it is open, which must not leak into later modules (they call asyncio.run)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'biasbench[test]' (playwright)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(chromium),
            args=FLAGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("leaderboard")
    first = make_run(base / "runA", seed=1)
    second = make_run(base / "runB", seed=2, models=OTHER_MODELS)
    write_leaderboard([first, second], base / "board")
    return base


@pytest.fixture(scope="module")
def server(board: Path):
    handler = functools.partial(_QuietHandler, directory=str(board))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _models_in_order(page) -> list[str]:
    return page.eval_on_selector_all("table.board tbody tr", "rows => rows.map(r => r.dataset.model)")


def _check_page(page, board: Path, shot: Path) -> None:
    table = pd.read_csv(board / "board" / "leaderboard.csv")
    assert page.title() == "biasbench leaderboard"
    # every model row is there and visible
    assert sorted(_models_in_order(page)) == sorted(table.model)
    for model in table.model:
        assert page.locator(f'table.board tr[data-model="{model}"]').is_visible()
    # sorting: the default order is by worst-group rank; clicking 'max gap' sorts by the gap, ascending then descending
    before = _models_in_order(page)
    assert before == list(table.sort_values(["rank_worst_group", "model"]).model)
    page.click("table.board th[data-key=max_gap]")
    ascending = _models_in_order(page)
    assert ascending == list(table.sort_values("max_gap").model)
    assert ascending != before
    assert page.get_attribute("table.board th[data-key=max_gap]", "aria-sort") == "ascending"
    page.click("table.board th[data-key=max_gap]")
    assert _models_in_order(page) == ascending[::-1]
    page.click("table.board th[data-key=model]")
    assert _models_in_order(page) == sorted(table.model)
    # every plot is embedded and rendered: open the per-model details, then check each image
    page.eval_on_selector_all("details", "ds => ds.forEach(d => d.open = true)")
    images = page.eval_on_selector_all(
        "img",
        "imgs => imgs.map(i => ({src: i.src.slice(0, 21), ok: i.complete, w: i.naturalWidth, h: i.naturalHeight,"
        " shown: i.getBoundingClientRect().width}))",
    )
    assert len(images) == 1 + len(table)  # one scatter per task + group bars per model
    for image in images:
        assert image["src"] == "data:image/png;base64" and image["ok"], image
        assert image["w"] > 100 and image["h"] > 100 and image["shown"] > 100, image
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_leaderboard_page_from_file_url(browser, board: Path) -> None:
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((board / "board" / "leaderboard.html").as_uri())
    _check_page(page, board, board / "screenshot-file.png")
    assert all(url.startswith(("file://", "data:")) for url in requests), requests  # self-contained
    # the manifest links are relative and point at each run's manifest
    hrefs = page.eval_on_selector_all("table.board a[href$='manifest.json']", "as => as.map(a => a.href)")
    assert hrefs and all(Path(href.removeprefix("file://")).is_file() for href in hrefs)
    page.close()


def test_leaderboard_page_from_localhost(browser, board: Path, server: str) -> None:
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(f"{server}/board/leaderboard.html")
    assert response is not None and response.ok
    _check_page(page, board, board / "screenshot-http.png")
    assert all(url.startswith((server, "data:")) for url in requests), requests
    href = page.eval_on_selector("table.board a[href$='manifest.json']", "a => a.href")
    assert page.request.get(href).ok
    page.close()


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_leaderboard_ties_filter_and_narrow_layout(browser, board: Path) -> None:
    table = pd.read_csv(board / "board" / "leaderboard.csv")
    # two models whose gap CIs overlap share a rank, and the page marks the shared rank
    overlapping = [
        (a.model, b.model)
        for a in table.itertuples()
        for b in table.itertuples()
        if a.model < b.model and a.max_gap_ci_low <= b.max_gap_ci_high and b.max_gap_ci_low <= a.max_gap_ci_high
    ]
    assert overlapping
    ranks = dict(zip(table.model, table.rank_max_gap))
    assert all(ranks[a] == ranks[b] for a, b in overlapping)
    shots = board / "screenshots"
    shots.mkdir(exist_ok=True)
    page = browser.new_page()
    page.goto((board / "board" / "leaderboard.html").as_uri())
    first, second = overlapping[0]
    cell = lambda model: page.locator(f'table.board tr[data-model="{model}"] td:nth-child(3)')  # noqa: E731 - gap rank
    assert cell(first).inner_text() == cell(second).inner_text() == f"={ranks[first]}"
    # manifests travel with the page
    hrefs = page.eval_on_selector_all("table.board a[href$='manifest.json']", "as => as.map(a => a.getAttribute('href'))")
    assert hrefs and all(h.startswith("manifests/") and (board / "board" / h).is_file() for h in hrefs)
    # the filter box narrows the rows
    page.fill("#board-filter", "model-c")
    visible = page.eval_on_selector_all("table.board tbody tr", "rs => rs.filter(r => !r.hidden).map(r => r.dataset.model)")
    assert visible == ["model-c"]
    page.fill("#board-filter", "")
    # warnings are whole: every warning of a row is one bullet, as the run recorded it
    page.eval_on_selector_all("details", "ds => ds.forEach(d => d.open = true)")
    bullets = page.eval_on_selector_all("details ul.warnings li", "ls => ls.map(l => l.textContent)")
    assert bullets and all(not b.startswith(" ") for b in bullets)
    # wide and narrow screenshots; at 390 px the model column stays in view while the table scrolls
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.screenshot(path=str(shots / "leaderboard-1400.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("() => document.querySelector('.scroll').scrollLeft = 400")
    box = page.locator("table.board tbody tr td.model").first.bounding_box()
    assert box is not None and 0 <= box["x"] < 40 and page.is_visible(".scroll-hint")
    page.screenshot(path=str(shots / "leaderboard-390.png"), full_page=True)
    assert _png_size(shots / "leaderboard-1400.png")[0] == 1400 and _png_size(shots / "leaderboard-390.png")[0] == 390
    page.close()
