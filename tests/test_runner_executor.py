"""The executor: batches for local models, concurrency for APIs, every answer logged once, stops
that keep finished rows, and a caller that already runs an event loop (Jupyter, async code)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.core.audio import Audio
from biasbench.core.errors import AdapterError, BudgetExceededError
from biasbench.core.item import Item
from biasbench.core.messages import Request
from biasbench.core.response import Response
from biasbench.runner.executor import CONSECUTIVE_FAILURE_LIMIT, Budget, ExecutionStats, Job, execute
from biasbench.runner.plan import PlannedRow
from biasbench.runner.store import ResponseLog
from biasbench.tasks.base import RenderedPrompt
from biasbench.testing.requests import make_request
from biasbench.testing.speech import audio_part


class Echo(Adapter):
    """Answers each request with its text; records the batch sizes it was called with."""

    name = "echo-test"
    capabilities = Capabilities(batch=True)

    def __init__(self, config: Adapter.Config, fail: bool = False, cost: float = 0.0) -> None:
        super().__init__(config)
        self.batches: list[int] = []
        self.fail = fail
        self.cost = cost

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        self.batches.append(len(requests))
        if self.fail:
            return [Response.failed("HTTP 503") for _ in requests]
        return [Response(text=f"B {request.messages[-1].parts[-1].text}", cost_usd=self.cost) for request in requests]


def _jobs(n: int, audio=None) -> list[Job]:
    jobs = []
    for i in range(n):
        item = Item(f"q{i}", "demo", f"Question {i}?", ("a", "b", "c", "d"), 0)
        row = PlannedRow("m", "demo", item, None, "text", 0, 0, RenderedPrompt(f"Question {i}?", "Answer with a letter."))
        request = make_request(f"Question {i}?", audio)
        jobs.append(Job(request.key("fp"), row, request))
    return jobs


def _echo(**kwargs) -> Echo:
    return Echo(Echo.Config(), **kwargs)


def test_batches_of_the_configured_size_each_answer_logged_once(tmp_path: Path) -> None:
    adapter, log, stats = _echo(), ResponseLog(tmp_path), ExecutionStats()
    advanced: list[int] = []
    execute(adapter, _jobs(10), log, 0, batch_size=4, concurrency=1, budget=Budget(None, 0.0), stats=stats, advance=advanced.append)
    log.close()
    assert adapter.batches == [4, 4, 2] and advanced == [4, 4, 2]
    assert stats.model_calls == 10 and stats.failed == 0
    state = log.read()
    assert len(state.answers) == 10 and len(log.path.read_text(encoding="utf-8").splitlines()) == 10
    assert state.answers[_jobs(10)[3].key].response.text == "B Question 3?"


def test_budget_stop_keeps_finished_rows(tmp_path: Path) -> None:
    adapter, log, stats = _echo(cost=0.01), ResponseLog(tmp_path), ExecutionStats()
    with pytest.raises(BudgetExceededError, match="max_cost_usd=0.03"):
        execute(adapter, _jobs(10), log, 0, batch_size=2, concurrency=1, budget=Budget(0.03, 0.0), stats=stats)
    log.close()
    assert len(log.read().answers) == 4  # two batches of 2 reach 0.04 >= 0.03; nothing after


def test_an_adapter_that_never_answers_stops_with_one_line(tmp_path: Path) -> None:
    adapter, log, stats = _echo(fail=True), ResponseLog(tmp_path), ExecutionStats()
    with pytest.raises(AdapterError) as caught:
        execute(adapter, _jobs(40), log, 0, batch_size=1, concurrency=1, budget=Budget(None, 0.0), stats=stats)
    log.close()
    assert "HTTP 503" in caught.value.one_line() and "\n" not in caught.value.one_line()
    assert stats.model_calls == CONSECUTIVE_FAILURE_LIMIT
    state = log.read()
    assert state.answers == {} and len(state.last_seen) == CONSECUTIVE_FAILURE_LIMIT  # errors logged, never cached


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    t = np.arange(8000) / 16000
    return audio_part(Audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype("float32"), 16000), tmp_path_factory.mktemp("clip"), "c")


def test_the_openai_path_runs_inside_a_running_event_loop(tmp_path: Path, clip, monkeypatch) -> None:
    """What Jupyter (or Playwright's sync API) does: the caller's thread already runs a loop."""
    pytest.importorskip("openai")
    from biasbench.adapters.openai_chat import OpenAIAudioAdapter
    from biasbench.testing.openai_server import OpenAITestServer

    model = "gpt-4o-audio-preview-2025-06-03"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loop-test")
    with OpenAITestServer(models=(model,), api_key="sk-loop-test") as server:
        adapter = OpenAIAudioAdapter.from_params({"base_url": server.base_url, "model": model})
        adapter.load()
        log, stats, jobs = ResponseLog(tmp_path), ExecutionStats(), _jobs(6, clip)

        async def notebook_cell() -> list[Response]:
            assert asyncio.get_running_loop() is not None
            execute(adapter, jobs, log, 0, batch_size=1, concurrency=3, budget=Budget(None, 0.0), stats=stats)
            return adapter.generate([jobs[0].request])

        direct = asyncio.run(notebook_cell())
        adapter.close()
        log.close()
    assert stats.model_calls == 6 and stats.failed == 0
    assert set(log.read().answers) == {job.key for job in jobs}
    assert direct[0].ok


class SlowAfterFirst(Adapter):
    """An API-like adapter: the first request answers at once, the others after ``delay_s``; records
    the loop each request ran on and how many requests are still running."""

    name = "slow-test"
    capabilities = Capabilities(async_=True)

    def __init__(self, config: Adapter.Config, delay_s: float = 0.0, fail_at: int | None = None) -> None:
        super().__init__(config)
        self.delay_s, self.fail_at = delay_s, fail_at
        self.loops: list[object] = []
        self.running = 0

    async def agenerate(self, request: Request) -> Response:
        index = len(self.loops)
        self.loops.append(asyncio.get_running_loop())
        self.running += 1
        try:
            if self.fail_at is not None and index == self.fail_at:
                raise AdapterError("the endpoint refused the key")
            if index:
                await asyncio.sleep(self.delay_s)
            return Response(text="B")
        finally:
            self.running -= 1


def test_api_requests_run_on_the_shared_api_loop_without_a_hop(tmp_path: Path) -> None:
    from biasbench.adapters.api_loop import api_loop

    adapter, stats = SlowAfterFirst(SlowAfterFirst.Config()), ExecutionStats()
    execute(adapter, _jobs(8), ResponseLog(tmp_path), 0, batch_size=1, concurrency=4, budget=Budget(None, 0.0), stats=stats)
    assert stats.answered == 8 and set(map(id, adapter.loops)) == {id(api_loop())}
    assert len(ResponseLog(tmp_path).read().answers) == 8


def test_a_slow_endpoints_answers_reach_the_disk_within_the_flush_interval(tmp_path: Path) -> None:
    """Answers are buffered, but one never waits for the next answer (or a full batch) to be written."""
    import threading
    import time

    adapter = SlowAfterFirst(SlowAfterFirst.Config(), delay_s=2.0)
    log, stats, jobs = ResponseLog(tmp_path, flush_interval_s=0.1, flush_entries=1000), ExecutionStats(), _jobs(3)
    worker = threading.Thread(
        target=execute, args=(adapter, jobs, log, 0), kwargs=dict(batch_size=1, concurrency=3, budget=Budget(None, 0.0), stats=stats)
    )
    worker.start()
    path, on_disk = tmp_path / "responses.jsonl", []
    deadline = time.monotonic() + 10
    while not on_disk and time.monotonic() < deadline:
        on_disk = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        answered_then = stats.answered
        time.sleep(0.01)
    worker.join()
    assert [json.loads(line)["key"] for line in on_disk] == [jobs[0].key]
    assert answered_then == 1  # written while the other two were still in flight
    assert stats.answered == 3 and len(ResponseLog(tmp_path).read().answers) == 3


def test_a_fatal_error_stops_the_asking_keeps_the_answers_in_flight_and_leaves_nothing_running(tmp_path: Path) -> None:
    import time

    adapter, stats, jobs = SlowAfterFirst(SlowAfterFirst.Config(), delay_s=0.3, fail_at=2), ExecutionStats(), _jobs(12)
    with pytest.raises(AdapterError, match="refused the key"):
        execute(adapter, jobs, ResponseLog(tmp_path), 0, batch_size=1, concurrency=3, budget=Budget(None, 0.0), stats=stats)
    time.sleep(0.05)
    assert adapter.running == 0  # nothing left running on the loop that outlives the call
    assert len(adapter.loops) < len(jobs)  # no new request after the error
    answers = ResponseLog(tmp_path).read().answers
    assert stats.answered >= 2 and len(answers) == stats.answered  # paid answers in flight are kept on disk


def test_ctrl_c_while_waiting_cancels_the_coroutine_and_lets_it_clean_up() -> None:
    import os
    import signal
    import threading

    from biasbench.adapters.api_loop import run_sync_on_api_loop

    cleaned = threading.Event()

    async def asking() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.05)  # e.g. writing buffered answers
            cleaned.set()

    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal starts Python (a background job ignores SIGINT)
    try:
        threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()  # what Ctrl-C sends
        with pytest.raises(KeyboardInterrupt):
            run_sync_on_api_loop(asking())
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert cleaned.is_set()
