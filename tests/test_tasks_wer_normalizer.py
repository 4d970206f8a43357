"""Comparable WER: Whisper's English normalizer by default (recorded), the project's own on request."""

from __future__ import annotations

import sys

import pytest

from biasbench.core.errors import BiasbenchError
from biasbench.core.response import Response
from biasbench.tasks.loading import load_task
from biasbench.tasks.textnorm import transcript_normalizer

pytest.importorskip("whisper_normalizer", reason="pip install 'biasbench[wer]'")


def _item(task, needle: str):
    return next(i for i in task.items() if needle in i.text)


def test_whisper_normalizer_is_the_default_and_is_recorded() -> None:
    task = load_task("demo_transcription")
    info = task.describe()
    assert info["config"]["normalizer"] == "whisper"
    assert info["parser_version"].startswith("wer-1+whisper-en-")
    own = load_task("demo_transcription", {"normalizer": "biasbench"})
    assert own.describe()["parser_version"] == "wer-1+tn-1"
    assert own.parser_version != task.parser_version  # a different normalizer is a different score key


def test_whisper_normalizer_changes_what_counts_as_an_error() -> None:
    whisper, own = load_task("demo_transcription"), load_task("demo_transcription", {"normalizer": "biasbench"})
    item = _item(whisper, "umbrella")
    # British spelling, an abbreviation and a contraction are not errors for Whisper's normalizer
    heard = item.text.replace("Please bring", "Please bring, Mr. Smith,").replace("your", "your colour")
    assert own.score(item, 0, Response(item.text.replace("it may", "it'll"))).score > 0
    w = whisper.score(item, 0, Response("please bring your umbrella because it may rain this afternoon"))
    assert (w.outcome, w.score) == ("scored", 0.0)
    normalize, _ = transcript_normalizer("whisper")
    assert normalize("The colour of Mr. Smith's car") == normalize("the color of mister smith's car")
    assert transcript_normalizer("biasbench")[0]("colour") != transcript_normalizer("biasbench")[0]("color")
    errors = whisper.score(item, 0, Response(heard))
    assert errors.details["insertions"] >= 3 and errors.score > 0


def test_missing_package_is_an_install_hint_not_a_fallback(monkeypatch) -> None:
    transcript_normalizer.cache_clear()
    monkeypatch.setitem(sys.modules, "whisper_normalizer", None)
    monkeypatch.setitem(sys.modules, "whisper_normalizer.english", None)
    try:
        with pytest.raises(BiasbenchError, match=r"biasbench\[wer\]"):
            load_task("demo_transcription")
        assert load_task("demo_transcription", {"normalizer": "biasbench"}).parser_version == "wer-1+tn-1"
    finally:
        transcript_normalizer.cache_clear()
