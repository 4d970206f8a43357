"""A second read through the same ResponseLog parses only what was appended, and is the same as a fresh read."""

from __future__ import annotations

from pathlib import Path

from biasbench.core.response import Response, Usage
from biasbench.runner.store import QUARANTINE_NAME, LoggedResponse, ResponseLog


def _entry(key: str, text: str = "A", error: str | None = None) -> LoggedResponse:
    response = Response(text=text, usage=Usage(3, 1), latency_s=0.5) if error is None else Response.failed(error)
    return LoggedResponse(key, {"model": "m", "item": key}, response, invocation=0)


def _same(a, b) -> None:
    assert a.answers == b.answers and a.last_seen == b.last_seen and a.dropped_lines == b.dropped_lines


def test_an_appended_log_reads_the_same_as_a_fresh_read(tmp_path: Path, monkeypatch) -> None:
    log = ResponseLog(tmp_path)
    log.append([_entry("k1"), _entry("k2", error="timeout")])
    first = log.read()
    log.append([_entry("k2", text="B"), _entry("k3")])
    log.close()
    parsed: list[bytes] = []
    from biasbench.runner import store

    real = store._parse_line
    monkeypatch.setattr(store, "_parse_line", lambda raw: parsed.append(raw) or real(raw))
    second = log.read(repair=False)
    assert len(parsed) == 2  # only the appended lines
    monkeypatch.undo()
    _same(second, ResponseLog(tmp_path).read(repair=False))
    assert sorted(second.answers) == ["k1", "k2", "k3"] and second.answers["k2"].response.text == "B"
    assert sorted(first.answers) == ["k1"]  # the earlier state is not changed by the later read


def test_a_torn_append_is_repaired_on_the_whole_file(tmp_path: Path) -> None:
    log = ResponseLog(tmp_path)
    log.append([_entry("k1")])
    log.close()
    log.read()
    with open(log.path, "ab") as handle:
        handle.write(b'{"key": "k2", "row": {}, "respo')  # a cut write
    state = log.read()
    assert sorted(state.answers) == ["k1"] and state.dropped_lines == 1
    assert (tmp_path / QUARANTINE_NAME).exists() and log.path.read_bytes().endswith(b"\n")
    _same(log.read(repair=False), ResponseLog(tmp_path).read(repair=False))


def test_a_log_replaced_or_rewritten_is_read_whole(tmp_path: Path) -> None:
    log = ResponseLog(tmp_path)
    log.append([_entry("k1"), _entry("k2")])
    log.close()
    log.read()
    other = tmp_path / "other"
    other.mkdir()
    ResponseLog(other).append([_entry("k9")])
    (other / log.path.name).replace(log.path)  # another file (new inode) under the same name
    assert sorted(log.read(repair=False).answers) == ["k9"]
