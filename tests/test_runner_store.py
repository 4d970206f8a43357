"""The response log reads back what was written and repairs damage once (quarantine, never a traceback)."""

from __future__ import annotations

import errno
import json
from dataclasses import fields
from pathlib import Path

import pytest

from biasbench.core import response as response_module
from biasbench.core.errors import StorageError
from biasbench.core.response import Response, Usage
from biasbench.runner.store import QUARANTINE_NAME, LoggedResponse, ResponseLog


def _entry(key: str, text: str = "A", error: str | None = None) -> LoggedResponse:
    response = Response(text=text, usage=Usage(3, 1), latency_s=0.5, cost_usd=0.001) if error is None else Response.failed(error)
    return LoggedResponse(key, {"model": "m", "item": key}, response, invocation=0)


def _write(tmp_path: Path, *keys: str) -> ResponseLog:
    log = ResponseLog(tmp_path)
    log.append(_entry(key, text=f"answer {key}") for key in keys)
    log.close()
    return log


def _line(key: str, **response: object) -> str:
    body = {"text": "B", "finish_reason": "stop", **response}
    return json.dumps({"key": key, "row": {}, "response": body, "invocation": 0}) + "\n"


def test_round_trip_keeps_every_answer(tmp_path: Path) -> None:
    log = _write(tmp_path, "k1", "k2")
    state = log.read()
    assert sorted(state.answers) == ["k1", "k2"]
    assert state.answers["k1"].response == Response(text="answer k1", usage=Usage(3, 1), latency_s=0.5, cost_usd=0.001)
    assert state.dropped_lines == 0 and state.note() == ""


def test_errors_are_seen_but_not_answers(tmp_path: Path) -> None:
    log = ResponseLog(tmp_path)
    log.append([_entry("k1", error="HTTP 500")])
    log.close()
    state = log.read()
    assert state.answers == {} and state.last_seen["k1"].response.error == "HTTP 500"


def test_garbage_in_the_middle_is_quarantined_once(tmp_path: Path) -> None:
    log = _write(tmp_path, "k1")
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    _write(tmp_path, "k2")
    state = log.read()
    assert sorted(state.answers) == ["k1", "k2"]
    assert state.dropped_lines == 1 and QUARANTINE_NAME in state.note()
    assert (tmp_path / QUARANTINE_NAME).read_text(encoding="utf-8") == "{not json\n"
    again = log.read()
    assert again.dropped_lines == 0 and sorted(again.answers) == ["k1", "k2"]  # never re-warned


@pytest.mark.parametrize("bad", [{"text": None}, {"text": 3}, {"finish_reason": 1}, {"usage": {"input_tokens": "x"}}, {"latency_s": "slow"}])
def test_wrong_value_types_are_quarantined_not_a_traceback(tmp_path: Path, bad: dict) -> None:
    log = _write(tmp_path, "k1")
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write(_line("k2", **bad))
    state = log.read()
    assert sorted(state.answers) == ["k1"] and state.dropped_lines == 1
    assert "k2" in (tmp_path / QUARANTINE_NAME).read_text(encoding="utf-8")
    assert "k2" not in log.path.read_text(encoding="utf-8")


def test_valid_last_line_without_newline_is_kept_and_appending_continues(tmp_path: Path) -> None:
    log = _write(tmp_path, "k1")
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write(_line("k2").rstrip("\n"))
    unrepaired = ResponseLog(tmp_path).read(repair=False)
    assert sorted(unrepaired.answers) == ["k1", "k2"]
    # appending after a non-repairing read still starts a new line
    _write(tmp_path, "k3")
    state = log.read()
    assert sorted(state.answers) == ["k1", "k2", "k3"] and state.dropped_lines == 0
    assert log.path.read_text(encoding="utf-8").count("\n") == 3


def test_torn_last_line_is_cut_and_quarantined(tmp_path: Path) -> None:
    log = _write(tmp_path, "k1", "k2")
    data = log.path.read_bytes()
    log.path.write_bytes(data[:-20])  # died mid-write of the second line
    state = log.read()
    assert sorted(state.answers) == ["k1"] and state.dropped_lines == 1
    _write(tmp_path, "k2")
    assert sorted(log.read().answers) == ["k1", "k2"]


def test_unknown_extra_fields_from_a_newer_format_are_tolerated(tmp_path: Path) -> None:
    log = ResponseLog(tmp_path)
    line = json.loads(_line("k1"))
    line["shard"] = 7
    line["response"]["reasoning_tokens"] = 12
    log.path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    state = log.read()
    assert state.answers["k1"].response.text == "B" and state.dropped_lines == 0


def test_disk_full_on_append_is_one_line_and_keeps_finished_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _write(tmp_path, "k1")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("biasbench.runner.store.os.fsync", full)
    with pytest.raises(StorageError, match="disk is full") as caught:
        log.append([_entry("k2")])
    assert "\n" not in caught.value.one_line()
    monkeypatch.undo()
    assert "k1" in ResponseLog(tmp_path).read().answers


def test_response_reader_knows_every_response_field() -> None:
    assert set(response_module._FIELD_TYPES) == {f.name for f in fields(Response)}


def test_response_json_holds_every_field() -> None:
    """to_json is written out field by field (it runs once per logged answer): a new field must join it."""
    from dataclasses import asdict

    response = Response(text="B", usage=Usage(1, 2, 3), transcript="t", extra={"k": 1})
    assert set(response.to_json()) == {f.name for f in fields(Response)}
    assert response.to_json()["usage"] == asdict(response.usage)


def test_response_round_trip() -> None:
    original = Response(
        text="B", finish_reason="length", usage=Usage(10, 2, 7), latency_s=1.25, error=None, refusal=True,
        cost_usd=0.02, transcript="hello", extra={"id": "x", "n": [1, 2]},
    )
    again = Response.from_json(json.loads(json.dumps(original.to_json())))
    assert again == original and dict(again.extra) == {"id": "x", "n": [1, 2]}
    failed = Response.failed("HTTP 429:\n  rate limited")
    assert Response.from_json(failed.to_json()) == failed and failed.error == "HTTP 429: rate limited" and not failed.ok



def _on_disk(tmp_path: Path) -> list[str]:
    path = tmp_path / "responses.jsonl"
    return [json.loads(line)["key"] for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_buffered_answers_are_due_when_the_batch_fills(tmp_path: Path) -> None:
    log = ResponseLog(tmp_path, flush_interval_s=60.0, flush_entries=3)
    assert not log.add([_entry("k1")]) and not log.add([_entry("k2")])
    log.flush_if_due()
    assert _on_disk(tmp_path) == []  # buffered: neither the size nor the interval is reached
    assert log.add([_entry("k3")])
    log.flush_if_due()
    assert _on_disk(tmp_path) == ["k1", "k2", "k3"]
    log.add([_entry("k4")])
    log.close()  # close writes what is buffered
    assert _on_disk(tmp_path) == ["k1", "k2", "k3", "k4"]


def test_a_buffered_answer_is_due_after_the_flush_interval(tmp_path: Path) -> None:
    import time

    log = ResponseLog(tmp_path, flush_interval_s=0.05, flush_entries=1000)
    assert not log.add([_entry("k1")])
    assert 0 < log.seconds_until_due() <= 0.05
    log.flush_if_due()
    assert _on_disk(tmp_path) == []  # not due yet
    time.sleep(0.06)
    assert log.due() and log.seconds_until_due() == 0.0
    log.flush_if_due()
    assert _on_disk(tmp_path) == ["k1"] and log.seconds_until_due() is None and not log.due()
    log.close()


def test_disk_full_during_a_batched_write_is_one_line_and_keeps_earlier_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = ResponseLog(tmp_path, flush_interval_s=60.0, flush_entries=2)
    log.add([_entry("k1"), _entry("k2")])
    log.flush()  # the first batch is written and synced

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("biasbench.runner.store.os.fsync", full)
    log.add([_entry("k3"), _entry("k4")])
    with pytest.raises(StorageError, match="disk is full") as caught:
        log.flush()
    assert "\n" not in caught.value.one_line()
    monkeypatch.undo()
    log.close()  # nothing left buffered: the failed batch is not retried behind the caller's back
    state = ResponseLog(tmp_path).read()
    assert {"k1", "k2"} <= set(state.answers) and state.dropped_lines == 0
