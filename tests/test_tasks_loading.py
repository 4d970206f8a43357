"""Loading tasks by shipped name, path or kind; the demo tasks; errors as one-line BiasbenchErrors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biasbench.core.errors import BiasbenchError, ConfigError, DataError, UnknownNameError
from biasbench.core.response import Response
from biasbench.tasks.base import rotate
from biasbench.tasks.loading import available_tasks, load_task


def test_demo_mc_loads_renders_and_scores_through_rotation() -> None:
    task = load_task("demo_mc")
    assert task.name == "demo_mc" and len(task.items()) == 40 and not task.exclusions()
    item = task.items()[0]
    for rotation in range(4):
        audio = task.render(item, "audio", rotation)
        presented = rotate(item.choices, rotation)
        assert audio.choices == presented
        assert "Option A: " + presented[0] in audio.spoken_text and "Option D" in audio.spoken_text
        assert "letter" in audio.text and item.text not in audio.text
        text = task.render(item, "text", rotation)
        assert text.spoken_text is None and item.text in text.text and f"D. {presented[3]}" in text.text
        correct_letter = "ABCD"[presented.index(item.choices[item.target])]
        outcome = task.score(item, rotation, Response(f"The answer is {correct_letter}."))
        assert (outcome.outcome, outcome.parsed) == ("correct", task.target_label(item))
        wrong = "ABCD"[(presented.index(item.choices[item.target]) + 1) % 4]
        outcome = task.score(item, rotation, Response(wrong))
        assert outcome.outcome == "incorrect" and outcome.parsed != task.target_label(item)
        assert outcome.parsed == "ABCD"[item.choices.index(presented["ABCD".index(wrong)])]
    assert task.score(item, 0, Response("A or B")).outcome == "invalid"
    assert task.score(item, 0, Response("I cannot answer that.")).outcome == "refusal"
    assert task.score(item, 0, Response("B", refusal=True)).outcome == "refusal"


def test_question_only_rendering_sends_options_as_text() -> None:
    task = load_task("demo_mc", {"rendering": "question_only"})
    item = task.items()[0]
    prompt = task.render(item, "audio", 0)
    assert prompt.spoken_text == item.text and "A. " + item.choices[0] in prompt.text


def test_demo_transcription_wer_with_normalization() -> None:
    task = load_task("demo_transcription")
    assert task.config.modalities == ("audio",) and len(task.items()) == 12
    item = next(i for i in task.items() if "twenty" in i.text)
    exact = task.score(item, 0, Response(item.text.upper().replace(".", "!").replace("twenty", "20")))
    assert (exact.outcome, exact.score) == ("scored", 0.0)
    one_off = task.score(item, 0, Response(item.text.replace("birds", "words")))
    assert one_off.score == pytest.approx(1 / len(item.text.split()))
    assert one_off.details["substitutions"] == 1 and "words" in one_off.details["hypothesis"]
    with pytest.raises(ConfigError, match="audio"):
        load_task("demo_transcription", {"modalities": ["audio", "text"]})


def test_load_by_path_kind_and_overrides(tmp_path: Path) -> None:
    data = tmp_path / "qs.csv"
    data.write_text("qid,q,a1,a2,a3,right\n1,Is ice cold?,yes,no,maybe,A\n2,Is fire cold?,yes,no,maybe,B\n")
    spec = tmp_path / "mine.yaml"
    spec.write_text(
        "kind: multiple_choice\npath: qs.csv\ncolumns: {id: qid, question: q, choices: [a1, a2, a3], answer: right}\n"
        "answer_format: letter\nrotations: 3\n"
    )
    task = load_task(str(spec))
    assert task.name == "mine" and [i.target for i in task.items()] == [0, 1]
    renamed = load_task(str(spec), {"name": "other", "n_items": 1, "seed": 3})
    assert renamed.name == "other" and len(renamed.items()) == 1
    assert renamed.items()[0].id == load_task(str(spec), {"n_items": 1, "seed": 3}).items()[0].id


@pytest.mark.parametrize(
    "ref,params,error,match",
    [
        ("demo_mcq", None, UnknownNameError, "did you mean 'demo_mc'"),
        ("nope.yaml", None, ConfigError, "not found"),
        ("demo_mc", {"rotations": 0, "bogus": 1}, ConfigError, "bogus"),
        ("demo_mc", {"rotations": 5}, ConfigError, "rotations=5"),
        ("demo_mc", {"path": "/no/such/file.jsonl"}, DataError, "not found"),
        ("demo_mc", {"columns": {"question": "prompt"}}, DataError, "lacks column"),
        ("demo_mc", {"metrics": ["biasbench.tasks.metrics.bbq:nope"]}, ConfigError, "metrics: .* has no attribute 'nope'"),
    ],
)
def test_bad_input_one_line_errors(ref, params, error, match) -> None:
    with pytest.raises(error, match=match) as caught:
        load_task(ref, params)
    assert "\n" not in str(caught.value)


def test_all_field_problems_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_task("demo_mc", {"rotations": 0, "bogus": 1, "max_audio_seconds": -1})
    message = str(caught.value)
    assert "rotations" in message and "bogus" in message and "max_audio_seconds" in message


def test_corrupt_data_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "question": "q", "choices": ["a", "b"], "answer": 0}\n{not json\n')
    with pytest.raises(DataError, match="line 2"):
        load_task("multiple_choice", {"path": str(bad)})
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BiasbenchError):
        load_task("multiple_choice", {"path": str(bad)})


def test_available_tasks_lists_specs_and_kinds() -> None:
    listed = dict(available_tasks())
    assert {"demo_mc", "demo_transcription", "multiple_choice", "transcription"} <= set(listed)
    assert all(description for description in listed.values())


def test_shipped_specs_declare_callable_metrics() -> None:
    from biasbench.tasks.metrics import task_metrics

    assert list(task_metrics(load_task("voice_only_ambiguous"))) == ["cant_tell_rate", "stereotype_aligned_rate"]
    assert task_metrics(load_task("demo_mc")) == {}


def test_spoken_template() -> None:
    task = load_task("demo_mc", {"spoken_template": "Here is a question. {question} {options}"})
    assert task.render(task.items()[0], "audio", 0).spoken_text.startswith("Here is a question. What is")


def test_describe_is_json_serialisable_and_tracks_output_affecting_params() -> None:
    task = load_task("demo_mc")
    described = task.describe()
    assert json.loads(json.dumps(described)) == described
    assert (described["name"], described["version"], described["parser_version"]) == (task.name, task.version, task.parser_version)
    changed = load_task("demo_mc", {"spoken_template": "Here is a question. {question} {options}"}).describe()
    assert changed["config"]["spoken_template"] == "Here is a question. {question} {options}" and changed != described
