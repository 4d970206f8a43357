"""`biasbench view`: the rows it serves, its loopback server, and the page in headless Chromium."""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

from biasbench.cli import main
from biasbench.viewer.data import load_viewer_data
from biasbench.viewer.server import serve_in_background

sys.path.insert(0, str(Path(__file__).parent))
from test_reports_leaderboard_browser import FLAGS, chromium  # noqa: E402,F401 - the project's Chromium set-up

FIXTURES = Path(__file__).parent / "fixtures" / "viewer"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run (espeak voices, the simulated instrument): 3 items × 6 voices + the text control."""
    pytest.importorskip("espeakng_loader", reason="espeak voices need biasbench[tts]")
    base = tmp_path_factory.mktemp("viewer")
    for name in ("mini.yaml", "mini_mc.yaml", "mini.jsonl"):
        shutil.copy(FIXTURES / name, base / name)
    out = base / "run"
    assert main(["run", str(base / "mini.yaml"), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def served(run_dir: Path):
    server, url = serve_in_background(load_viewer_data(run_dir))
    yield url
    server.shutdown()
    server.server_close()


def test_rows_carry_spoken_text_and_their_own_clip(run_dir: Path) -> None:
    data = load_viewer_data(run_dir)
    table = pd.read_parquet(run_dir / "results.parquet")
    assert len(data.rows) == len(table) == 30 and not data.notes
    audio = [r for r in data.rows if r["modality"] == "audio"]
    assert len(audio) == 18 and all(r["clip"] for r in audio)
    assert all(r["clip"] is None for r in data.rows if r["modality"] == "text")
    # every clip is the file the run synthesized for that voice and that text, and the text is the item's
    records = {p: json.loads(p.read_text()) for p in (run_dir / "audio").rglob("*.json")}
    sidecars = {record["sha256"]: p.with_name(record["file"]) for p, record in records.items()}
    assert {r["clip"] for r in audio} == set(sidecars)
    assert all(data.clips[r["clip"]] == sidecars[r["clip"]] for r in audio)
    by_voice_item = {}
    for r in audio:
        assert r["spoken_text"].startswith(("What is the capital", "Which planet", "At sea level"))
        by_voice_item.setdefault((r["voice_id"], r["spoken_text"]), set()).add(r["clip"])
    assert all(len(clips) == 1 for clips in by_voice_item.values())
    assert len({r["clip"] for r in audio if r["item_id"] == "capital-france"}) == 6  # one clip per voice
    assert {r["group"] for r in audio} == {f"{g} × {a}" for g in ("female", "male") for a in ("en-us", "en-gb", "en-029")}


def test_server_sends_only_the_runs_clips_with_byte_ranges(run_dir: Path, served: str) -> None:
    data = load_viewer_data(run_dir)
    clip_id, path = next(iter(data.clips.items()))
    whole = urllib.request.urlopen(f"{served}/audio/{clip_id}.wav").read()
    assert whole == path.read_bytes()
    request = urllib.request.Request(f"{served}/audio/{clip_id}.wav", headers={"Range": "bytes=4-11"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 206 and response.read() == whole[4:12]
        assert response.headers["Content-Range"] == f"bytes 4-11/{len(whole)}"
        assert response.headers["Content-Type"] == ("audio/flac" if path.suffix == ".flac" else "audio/wav")
    for bad in ("/audio/" + "0" * 64 + ".wav", "/audio/../manifest.json", "/manifest.json"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(served + bad)
        assert caught.value.code == 404
    payload = json.loads(urllib.request.urlopen(f"{served}/api/data").read())
    assert payload["meta"]["n_rows"] == 30 and payload["meta"]["axes"] == ["gender", "accent"]


def test_not_a_run_directory_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["view", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "results.parquet" in err and "\n" not in err


@pytest.mark.browser
def test_page_filters_plays_a_clip_and_shows_one_item_in_every_voice(run_dir: Path, served: str, chromium: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'biasbench[test]' (playwright)")
    table = pd.read_parquet(run_dir / "results.parquet")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=[*FLAGS, "--autoplay-policy=no-user-gesture-required"], headless=True
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        left: list[str] = []

        def guard(route) -> None:
            if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                left.append(route.request.url)
                route.abort()

        page.route("**/*", guard)
        page.goto(served)
        page.wait_for_selector("body[data-ready='1']")
        rows = lambda: page.eval_on_selector_all("#rows tbody tr", "rs => rs.map(r => [r.dataset.voice, r.dataset.outcome])")  # noqa: E731
        assert len(rows()) == len(table)

        # filter to one voice: only its rows remain
        page.select_option("#f-voice", "f-us-2")
        shown = rows()
        assert shown and {voice for voice, _ in shown} == {"f-us-2"} and len(shown) == int((table.voice_id == "f-us-2").sum())
        assert "voice=f-us-2" in page.url
        # an outcome filter narrows further
        page.select_option("#f-voice", "")
        page.select_option("#f-outcome", "incorrect")
        assert {o for _, o in rows()} == {"incorrect"} and len(rows()) == int((table.outcome == "incorrect").sum())
        page.select_option("#f-outcome", "")

        # one clip plays: its audio element loads the clip and reports the clip's duration
        page.select_option("#f-voice", "m-029-2")
        played = page.evaluate(
            """async () => { const a = document.querySelector('#rows audio'); await a.play();
               await new Promise(r => setTimeout(r, 300)); a.pause();
               return {duration: a.duration, time: a.currentTime, src: a.currentSrc, error: a.error && a.error.code}; }"""
        )
        clip_id = played["src"].rsplit("/", 1)[1].removesuffix(".wav")
        durations = {json.loads(p.read_text())["sha256"]: json.loads(p.read_text())["duration_s"] for p in (run_dir / "audio").rglob("*.json")}
        assert played["error"] is None
        assert played["duration"] == pytest.approx(durations[clip_id], abs=0.05) and played["time"] > 0

        # a group number links to the rows behind it
        page.select_option("#f-voice", "")
        link = page.locator("#groups a.group-link[data-group='male × en-029']").first
        count = int(link.inner_text())
        link.click()
        assert page.input_value("#f-group") == "male × en-029" and len(rows()) == count
        assert {voice for voice, _ in rows()} == {"m-029-2"}

        # a report's link (biasbench.viewer.links) opens the same rows
        from biasbench.viewer.links import rows_link

        page.goto(rows_link("simulated-planted", "mini_mc", "audio", "cell", "male|en-029", base=served + "/"))
        page.wait_for_selector("body[data-ready='1']")
        assert len(rows()) == count and {voice for voice, _ in rows()} == {"m-029-2"}

        # the item × voices view: one item's answers in every voice, grouped by cell, flips highlighted
        page.select_option("#f-group", "")
        page.click("#rows a.item-link >> text=capital-france")
        page.wait_for_selector("#item-view:not([hidden])")
        assert page.is_hidden("#rows-view")
        cells = page.eval_on_selector_all("#item-body .cell-block", "bs => bs.map(b => b.dataset.cell)")
        assert sorted(cells) == sorted({f"{g} × {a}" for g in ("female", "male") for a in ("en-us", "en-gb", "en-029")})
        item_rows = table[(table.item_id == "capital-france") & (table.modality == "audio")]
        majority = item_rows.outcome.value_counts().idxmax()
        flipped = page.eval_on_selector_all("#item-body tr.flip", "rs => rs.map(r => r.dataset.voice)")
        assert sorted(flipped) == sorted(item_rows[item_rows.outcome != majority].voice_id)
        assert page.locator("#item-body audio").count() == 6
        page.screenshot(path=str(tmp_path / "viewer-item.png"), full_page=True)

        # the guard itself catches a request that leaves the machine; the page made none
        page.evaluate("() => fetch('http://example.invalid/probe').catch(() => null)")
        assert left == ["http://example.invalid/probe"], left
        browser.close()


def test_group_plot_draws_planted_truth_and_voice_counts(run_dir: Path) -> None:
    """(Reuses this module's small real run.) The calibration instrument's planted accuracies are drawn as
    reference lines on its bars, and every group label carries its voice count."""
    from biasbench.reports.run_plots import planted_values, plot_groups
    from biasbench.reports.rundata import load_run

    run = load_run(run_dir)
    axis, planted = planted_values(run, "simulated-planted")
    assert axis == "accent" and planted == {"en-us": 0.9, "en-gb": 0.8, "en-029": 0.5}
    plot = plot_groups(run, "mini_mc", "accuracy")
    axes = plot.figure.axes
    accent_ax = next(ax for ax in axes if ax.get_xlabel() == "accent group")
    lines = [c for c in accent_ax.collections if c.get_label() == "planted (calibration)"]
    reference = [c for c in accent_ax.collections if list(c.get_linewidth()) == [1.5]]  # the dashed planted lines
    drawn = {round(float(seg[0][1]), 3) for c in reference for seg in c.get_segments()}
    assert lines and drawn == {0.5, 0.8, 0.9}
    labels = [t.get_text() for t in accent_ax.get_xticklabels()]
    assert labels and all(text.endswith("2 voices") for text in labels), labels


def test_cli_view_serves_the_run_on_loopback(run_dir: Path) -> None:
    import re
    import subprocess

    process = subprocess.Popen(
        [sys.executable, "-m", "biasbench", "view", str(run_dir), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=run_dir.parent,
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line + process.stderr.read() if process.poll() is not None else line
        payload = json.loads(urllib.request.urlopen(f"{match.group(0)}api/data", timeout=30).read())
        assert payload["meta"]["n_rows"] == 30 and payload["meta"]["n_clips"] == 18
    finally:
        process.terminate()
        process.wait(timeout=30)
