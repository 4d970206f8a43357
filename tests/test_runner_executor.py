"""The executor: batches for local models, concurrency for APIs, every answer logged once, stops
that keep finished rows, and a caller that already runs an event loop (Jupyter, async code)."""

from __future__ import annotations

import asyncio
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
