"""The run keeps the cyclic collector off its long-lived objects, and always gives them back."""

from __future__ import annotations

import gc

import pytest

from biasbench.runner.heap import long_lived_objects


def test_settle_freezes_what_is_alive_and_leaving_unfreezes_it_even_on_error() -> None:
    assert gc.get_freeze_count() == 0
    kept = [[i] for i in range(1000)]
    with pytest.raises(RuntimeError):
        with long_lived_objects() as settle:
            settle()
            assert gc.get_freeze_count() >= len(kept)
            raise RuntimeError("a failed run")
    assert gc.get_freeze_count() == 0


def test_a_callers_freeze_and_a_disabled_collector_are_left_alone() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with long_lived_objects() as settle:
            settle()
        assert gc.get_freeze_count() == frozen  # not unfrozen: the caller's freeze is theirs to undo
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with long_lived_objects() as settle:
            settle()
            assert gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_a_run_leaves_nothing_frozen(tmp_path, monkeypatch) -> None:
    """run_experiment settles its plan and requests, and unfreezes them when it ends."""
    from biasbench.config import parse_config
    from biasbench.pipeline import run_experiment
    from biasbench.runner import heap

    settled: list[int] = []
    real = heap.long_lived_objects

    def watched():  # type: ignore[no-untyped-def]
        with real() as settle:
            yield lambda: (settle(), settled.append(gc.get_freeze_count()))

    import contextlib

    import biasbench.pipeline as pipeline

    monkeypatch.setattr(pipeline, "long_lived_objects", contextlib.contextmanager(watched))
    (tmp_path / "items.jsonl").write_text('{"id": "q1", "question": "Two plus two?", "choices": ["3", "4"], "answer": 1}\n')
    (tmp_path / "task.yaml").write_text(
        "kind: multiple_choice\nversion: '1'\npath: items.jsonl\nmodalities: [text]\nanswer_format: index\n"
        "columns: {id: id, question: question, choices: choices, answer: answer}\n"
    )
    config = parse_config(
        {"name": "heap", "pool": "demo_espeak", "tasks": ["task.yaml"], "modalities": ["text"],
         "models": [{"name": "m", "adapter": "simulated"}], "audit": {"enabled": False}, "report": False}
    )
    run_experiment(config, tmp_path / "run", tmp_path, show_progress=False, echo=lambda line: None)
    assert len(settled) == 2 and all(count > 0 for count in settled)
    assert gc.get_freeze_count() == 0
