"""openai-audio and openai-compatible: the real openai client against a local chat-completions server."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("openai", reason="needs the openai SDK: pip install 'biasbench[openai]'")
pytest.importorskip("tenacity", reason="needs tenacity: pip install 'biasbench[openai]'")

from biasbench.adapters.api_loop import run_sync  # noqa: E402
from biasbench.adapters.openai_chat import OpenAIAudioAdapter, OpenAICompatibleAdapter  # noqa: E402
from biasbench.adapters.pricing import PRICE_TABLE, Prices, estimate_cost  # noqa: E402
from biasbench.core.audio import Audio  # noqa: E402
from biasbench.core.errors import AdapterError, ConfigError  # noqa: E402
from biasbench.core.item import Item  # noqa: E402
from biasbench.core.messages import GenerationParams  # noqa: E402
from biasbench.core.response import Usage  # noqa: E402
from biasbench.runner.executor import Budget, ExecutionStats, Job, execute  # noqa: E402
from biasbench.runner.plan import PlannedRow  # noqa: E402
from biasbench.runner.store import ResponseLog  # noqa: E402
from biasbench.tasks.base import RenderedPrompt  # noqa: E402
from biasbench.testing.openai_server import REFUSE_TRIGGER, OpenAITestServer  # noqa: E402
from biasbench.testing.requests import make_request  # noqa: E402
from biasbench.testing.speech import audio_part  # noqa: E402

KEY = "sk-test-key-7f3a9c"
SNAPSHOT = "gpt-4o-audio-preview-2025-06-03"


def tone(seconds: float, hz: float) -> Audio:
    import numpy as np

    t = np.arange(int(16000 * seconds)) / 16000
    return Audio((0.3 * np.sin(2 * np.pi * hz * t)).astype("float32"), 16000)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return [audio_part(tone(0.5 + 0.1 * i, 200 + 40 * i), folder, f"clip{i}") for i in range(4)]


@pytest.fixture(scope="module")
def server():
    with OpenAITestServer(models=(SNAPSHOT, "Qwen/Qwen2-Audio-7B-Instruct"), api_key=KEY) as server:
        yield server


@pytest.fixture()
def key_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def audio_adapter(base_url: str, **params):
    adapter = OpenAIAudioAdapter.from_params({"base_url": base_url, "model": SNAPSHOT, **params})
    adapter.load()
    return adapter


def test_request_shape_input_audio_and_explicit_sampling(server, clips, key_env):
    adapter = audio_adapter(server.base_url)
    before = len(server.log.requests)
    params = GenerationParams(max_new_tokens=7, temperature=0.0, top_p=1.0, seed=5)
    response = adapter.generate([make_request("Which option?", clips[0], system="Be brief.", params=params, repeat=1)])[0]
    body = server.log.requests[before]
    assert response.ok and response.text.startswith("The answer is")
    assert body["model"] == SNAPSHOT and body["modalities"] == ["text"]
    assert (body["temperature"], body["top_p"], body["max_completion_tokens"], body["seed"]) == (0.0, 1.0, 7, 6)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    audio = body["messages"][1]["content"][0]
    assert audio["type"] == "input_audio" and audio["input_audio"]["format"] == "wav"
    assert base64.b64decode(audio["input_audio"]["data"]) == Path(clips[0].path).read_bytes()
    assert body["messages"][1]["content"][1] == {"type": "text", "text": "Which option?"}


def test_usage_with_audio_tokens_and_cost_from_the_price_table(server, clips, key_env):
    response = audio_adapter(server.base_url).generate([make_request("Which option?", clips[1])])[0]
    assert response.usage.audio_tokens == round(clips[1].duration_s * 10)
    assert response.usage.input_tokens > response.usage.audio_tokens
    assert response.cost_usd == pytest.approx(PRICE_TABLE[SNAPSHOT].cost(response.usage)) and response.cost_usd > 0


def test_audio_canary_changing_only_the_audio_changes_the_request_and_answer(server, clips, key_env):
    adapter = audio_adapter(server.base_url)
    bodies = [adapter.request_body(make_request("Same words.", clip)) for clip in clips]
    assert len({b["messages"][0]["content"][0]["input_audio"]["data"] for b in bodies}) == len(clips)
    answers = [r.text for r in adapter.generate([make_request("Same words.", clip) for clip in clips])]
    assert len(set(answers)) > 1  # the server's answer depends on the audio bytes


def test_refusals_are_flagged(server, clips, key_env):
    response = audio_adapter(server.base_url).generate([make_request(REFUSE_TRIGGER, clips[0])])[0]
    assert response.refusal and response.text


def test_openai_compatible_sends_every_sampling_field_explicitly(server, clips, monkeypatch):
    monkeypatch.setenv("BB_TEST_KEY", KEY)
    adapter = OpenAICompatibleAdapter.from_params({"base_url": server.base_url, "model": "Qwen/Qwen2-Audio-7B-Instruct", "api_key_env": "BB_TEST_KEY"})
    adapter.load()
    before = len(server.log.requests)
    assert adapter.generate([make_request("Which option?", clips[2])])[0].ok
    body = server.log.requests[before]
    assert body["max_tokens"] == 256 and body["temperature"] == 0.0 and body["top_p"] == 1.0 and body["seed"] == 0
    assert body["top_k"] == -1 and body["repetition_penalty"] == 1.0 and body["min_p"] == 0.0
    assert "modalities" not in body


def jobs_for(clips, n):
    jobs = []
    for i in range(n):
        item = Item(f"q{i}", "demo", f"Question {i}?", ("a", "b", "c", "d"), 0)
        row = PlannedRow("gpt", "demo", item, None, "audio", 0, 0, RenderedPrompt(f"Question {i}?", "Answer with a letter."))
        request = make_request(f"Question {i}? Answer with a letter.", clips[i % len(clips)])
        jobs.append(Job(request.key("fp"), row, request))
    return jobs


def test_fault_injection_every_item_answered_exactly_once_through_the_executor(clips, key_env, tmp_path):
    with OpenAITestServer(models=(SNAPSHOT,), api_key=KEY, fault_rate=0.2, retry_after_s=0.02, timeout_sleep_s=0.6, seed=1) as server:
        adapter = audio_adapter(server.base_url, timeout_s=0.3, backoff_initial_s=0.01, max_attempts=8)
        log = ResponseLog(tmp_path)
        stats = ExecutionStats()
        jobs = jobs_for(clips, 60)
        execute(adapter, jobs, log, 0, batch_size=1, concurrency=16, budget=Budget(None, 0.0), stats=stats)
        log.close()
        state = log.read()
        assert set(server.log.faults) == {"429", "500", "reset", "timeout"}  # every fault kind happened
        assert sum(server.log.faults.values()) >= 8
        assert stats.failed == 0 and stats.model_calls == 60
        assert len(state.answers) == 60 and {job.key for job in jobs} == set(state.answers)
        assert len(log.path.read_text().splitlines()) == 60  # no duplicates in the log
        assert sorted(server.log.answered.values()) == [1] * 60  # the server answered each item once


def test_retry_after_is_honoured(clips, key_env):
    with OpenAITestServer(models=(SNAPSHOT,), api_key=KEY, fault_rate=1.0, faults=("429",), retry_after_s=0.4) as server:
        adapter = audio_adapter(server.base_url, backoff_initial_s=0.0, max_attempts=2)
        start = time.perf_counter()
        response = adapter.generate([make_request("x", clips[0])])[0]
        assert time.perf_counter() - start >= 0.4
    assert response.error and "gave up after 2 attempts" in response.error and "429" in response.error


def test_non_retryable_401_stops_the_executor_and_keeps_finished_rows(clips, server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    adapter = audio_adapter(server.base_url, concurrency_per_key=1)
    log = ResponseLog(tmp_path)
    jobs = jobs_for(clips, 3)
    execute(adapter, jobs[:2], log, 0, batch_size=1, concurrency=1, budget=Budget(None, 0.0), stats=ExecutionStats())
    adapter._api_key = "sk-revoked"  # the key is revoked mid-run
    adapter.close()
    with pytest.raises(AdapterError) as caught:
        execute(adapter, jobs[2:], log, 0, batch_size=1, concurrency=1, budget=Budget(None, 0.0), stats=ExecutionStats())
    log.close()
    assert "401" in str(caught.value) and "\n" not in str(caught.value)
    assert len(log.read().answers) == 2


def test_bad_request_400_is_an_adapter_error(server, clips, key_env):
    adapter = audio_adapter(server.base_url)
    adapter.config = adapter.config.model_copy(update={"model": "gpt-4o-audio-preview-2099-01-01"})
    with pytest.raises(AdapterError) as caught:
        adapter.generate([make_request("x", clips[0])])
    assert "(400)" in str(caught.value)


@pytest.mark.parametrize(
    "params, env, fragment",
    [
        ({}, None, "OPENAI_API_KEY is not set"),
        ({}, "sk-wrong", "rejected the API key"),
        ({"model": "gpt-4o-audio-preview-2024-12-17"}, KEY, "does not serve model"),
        ({"base_url": "http://127.0.0.1:9/v1"}, KEY, "cannot reach"),
    ],
)
def test_load_failures_are_one_line_adapter_errors(server, monkeypatch, params, env, fragment):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    if env:
        monkeypatch.setenv("OPENAI_API_KEY", env)
    adapter = OpenAIAudioAdapter.from_params({"base_url": server.base_url, "model": SNAPSHOT, **params})
    with pytest.raises(AdapterError) as caught:
        adapter.load()
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert env is None or env not in str(caught.value)


def test_config_rules_undated_snapshots_and_missing_prices():
    with pytest.raises(ConfigError, match="dated snapshot"):
        OpenAIAudioAdapter.from_params({"model": "gpt-4o-audio-preview"})
    with pytest.raises(ConfigError, match="no price"):
        OpenAIAudioAdapter.from_params({"model": "gpt-9-audio-2030-01-01"})
    priced = OpenAIAudioAdapter.from_params({"model": "gpt-9-audio-2030-01-01", "prices": {"input_text": 1, "input_audio": 2, "output_text": 3}})
    assert priced.prices == Prices(1, 2, 3)
    with pytest.raises(ConfigError, match="base_url"):
        OpenAICompatibleAdapter.from_params({"model": "m"})
    with pytest.raises(ConfigError, match="http"):
        OpenAICompatibleAdapter.from_params({"model": "m", "base_url": "localhost:8000"})


def test_fingerprint_records_snapshot_but_not_client_settings_or_the_key(server, key_env):
    a = audio_adapter(server.base_url)
    assert a.describe()["config"]["model"] == SNAPSHOT
    same = OpenAIAudioAdapter.from_params({"base_url": server.base_url, "model": SNAPSHOT, "timeout_s": 5, "concurrency_per_key": 2})
    assert a.fingerprint() == same.fingerprint()
    other = OpenAIAudioAdapter.from_params({"base_url": server.base_url, "model": "gpt-audio-2025-08-28"})
    assert a.fingerprint() != other.fingerprint()
    assert KEY not in json.dumps(a.describe())


def test_cost_estimate_is_an_upper_bound_from_word_counts():
    prices = PRICE_TABLE[SNAPSHOT]
    estimate = estimate_cost(prices, [("one two three four five", "Answer A B C or D."), (None, "Text control.")], max_new_tokens=10)
    assert estimate.audio_seconds == pytest.approx(2.0) and estimate.input_audio_tokens == 20
    assert estimate.output_tokens == 20
    expected = prices.cost(Usage(estimate.input_text_tokens + 20, 20, 20))
    assert estimate.usd == pytest.approx(expected)
    adapter = OpenAIAudioAdapter.from_params({"model": SNAPSHOT})
    assert adapter.estimate_cost_usd([("one two three four five", "Answer A B C or D.")], 10) > 0


def test_concurrency_limit_is_shared_per_api_key_across_adapters(clips, key_env):
    with OpenAITestServer(models=(SNAPSHOT, "gpt-audio-2025-08-28"), api_key=KEY, latency_s=0.05) as server:
        first = audio_adapter(server.base_url, concurrency_per_key=2)
        second = OpenAIAudioAdapter.from_params({"base_url": server.base_url, "model": "gpt-audio-2025-08-28", "concurrency_per_key": 2})
        second.load()

        async def both():
            requests = [make_request(f"q{i}", clips[0]) for i in range(6)]
            return await asyncio.gather(*(a.agenerate(r) for r in requests for a in (first, second)))

        responses = run_sync(both())  # not asyncio.run: the caller's thread may already run a loop (Playwright, Jupyter)
    assert all(r.ok for r in responses) and server.log.max_in_flight == 2


# ----- the generic post: what goes on the wire, what comes back --------------------------------------
def sdk_create_kwargs(body: dict, create) -> dict:
    """``body`` as ``chat.completions.create`` keyword arguments: its named fields, the rest in ``extra_body``."""
    import inspect

    named = set(inspect.signature(create).parameters)
    kwargs = {key: value for key, value in body.items() if key in named}
    extra = {key: value for key, value in body.items() if key not in named}
    return kwargs | ({"extra_body": extra} if extra else {})


@pytest.mark.parametrize("family", ["openai-audio", "openai-compatible"])
def test_the_posted_json_equals_what_the_typed_sdk_call_sends(server, clips, key_env, family):
    """The adapter skips the SDK's typed params transform: the server must receive the same JSON from
    ``client.post`` as from ``client.chat.completions.create`` (text-only, audio and system turns)."""
    import openai

    model = SNAPSHOT if family == "openai-audio" else "Qwen/Qwen2-Audio-7B-Instruct"
    adapter = (OpenAIAudioAdapter if family == "openai-audio" else OpenAICompatibleAdapter).from_params(
        {"base_url": server.base_url, "model": model, "extra_body": {"top_k": 5, "min_p": 0.05}}
    )
    adapter.load()
    requests = [
        make_request("Which option? \u00e9\u4e2d \"quoted\"", clips[0], system="Be brief.", repeat=2),
        make_request("Text only, no audio."),
    ]
    client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
    try:
        for request in requests:
            body = adapter.request_body(request)
            before = len(server.log.requests)
            client.chat.completions.create(**sdk_create_kwargs(body, client.chat.completions.create))
            assert adapter.generate([request])[0].ok
            typed, posted = server.log.requests[before:]
            assert posted == typed == json.loads(json.dumps(body))
    finally:
        client.close()
    assert typed["top_k"] == 5 and ("modalities" in typed) == (family == "openai-audio")


def test_chat_completion_parsing_names_what_is_wrong():
    from biasbench.adapters.openai_chat import chat_completion

    good = {"choices": [{"message": {"content": "B"}, "finish_reason": "stop"}], "model": "m"}
    assert chat_completion(json.dumps(good).encode()) == good
    for raw, fragment in [
        (b"<html><body>Bad gateway</body></html>", "not JSON: <html><body>Bad gateway</body></html>"),
        (b'{"choices": []}', "not a chat completion"),
        (b'{"error": {"message": "overloaded"}}', 'not a chat completion (no choices[0].message): {"error"'),
        (b"[1, 2]", "not a chat completion"),
        (b'{"choices": [{"message": {"content": [{"type": "text"}]}}]}', "content or refusal is not text"),
        (b"x" * 500, "..."),
    ]:
        with pytest.raises(ValueError, match=re.escape(fragment)):
            chat_completion(raw)


def test_a_200_answer_that_is_not_a_completion_fails_only_that_request(clips, key_env):
    """A proxy answering 200 with an HTML page: a failed response with one line (retried on resume), no
    traceback, and the key masked where the page echoes it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            page = f"<html>\n<body>Rerouted; your key {KEY} is fine</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            return

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}/v1"
        adapter = audio_adapter(url, preflight=False)
        response = adapter.generate([make_request("Which option?", clips[0])])[0]
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert not response.ok
    assert response.error == f"{url} answered 200 with a body that is not JSON: <html> <body>Rerouted; your key *** is fine</body></html>"
