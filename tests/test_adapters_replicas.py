"""openai-compatible with data-parallel replicas: least-busy dispatch, health, and a cache key that
names the served model, not where it is served (the real openai client against loopback servers)."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("openai", reason="needs the openai SDK: pip install 'biasbench[openai]'")
pytest.importorskip("tenacity", reason="needs tenacity: pip install 'biasbench[openai]'")

from biasbench.adapters.openai_chat import OpenAICompatibleAdapter, Replica, pick_replica  # noqa: E402
from biasbench.core.errors import AdapterError, ConfigError  # noqa: E402
from biasbench.testing.openai_server import OpenAITestServer  # noqa: E402
from biasbench.testing.requests import make_request  # noqa: E402

MODEL = "Qwen/Qwen2-Audio-7B-Instruct"


def adapter(urls, **params) -> OpenAICompatibleAdapter:
    return OpenAICompatibleAdapter.from_params({"base_url": urls, "model": MODEL, "backoff_initial_s": 0.0, **params})


def served(server: OpenAITestServer) -> int:
    return sum(server.log.answered.values())


def test_requests_spread_over_replicas_and_answers_match_one_server():
    with OpenAITestServer(models=(MODEL,), api_key=None, latency_s=0.02) as a, OpenAITestServer(
        models=(MODEL,), api_key=None, latency_s=0.02
    ) as b:
        requests = [make_request(f"Question {i}?") for i in range(40)]
        both = adapter([a.base_url, b.base_url])
        answers = [r.text for r in both.generate(requests)]
        both.close()
        assert served(a) + served(b) == 40
        assert min(served(a), served(b)) >= 10, (served(a), served(b))
        single = adapter(a.base_url)
        assert [r.text for r in single.generate(requests)] == answers
        single.close()


def test_a_dead_replica_is_set_aside_and_its_requests_retried_elsewhere():
    with OpenAITestServer(models=(MODEL,), api_key=None) as live:
        dead = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
        both = adapter([dead, live.base_url], preflight=False, replica_failures=1, replica_cooldown_s=60, max_attempts=3)
        responses = both.generate([make_request(f"Q{i}?") for i in range(12)])
        assert all(not r.error for r in responses), [r.error for r in responses if r.error]
        assert served(live) == 12
        states = {replica.url: replica for replica in both.replicas()}
        assert states[dead].down_until > 0
        both.close()


def test_preflight_names_the_unreachable_replica():
    with OpenAITestServer(models=(MODEL,), api_key=None) as live:
        with pytest.raises(AdapterError, match=r"cannot reach http://127\.0\.0\.1:9/v1"):
            adapter([live.base_url, "http://127.0.0.1:9/v1"]).load()


def test_fingerprint_ignores_where_the_model_is_served_but_not_its_revision():
    one = adapter("http://127.0.0.1:8000/v1")
    moved = adapter(["http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1"], concurrency_per_key=4)
    assert one.fingerprint() == moved.fingerprint()
    assert one.fingerprint() != adapter("http://127.0.0.1:8000/v1", revision="abc123").fingerprint()
    assert one.fingerprint() != OpenAICompatibleAdapter.from_params({"base_url": "http://h/v1", "model": "other"}).fingerprint()


def test_request_keys_survive_a_server_restart_on_another_port():
    request = make_request("Which option?")
    with OpenAITestServer(models=(MODEL,), api_key=None) as first:
        first_url = first.base_url
        before = adapter(first_url)
        key_before = request.key(before.fingerprint())
        answer_before = before.generate([request])[0].text
        before.close()
    with OpenAITestServer(models=(MODEL,), api_key=None) as second:
        assert second.base_url != first_url
        after = adapter(second.base_url)
        assert request.key(after.fingerprint()) == key_before
        assert after.generate([request])[0].text == answer_before
        after.close()


def test_base_url_lists_are_validated():
    with pytest.raises(ConfigError, match="http"):
        adapter(["http://127.0.0.1:8000/v1", "localhost:8001"])
    with pytest.raises(ConfigError, match="twice"):
        adapter(["http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/"])
    with pytest.raises(ConfigError, match="empty"):
        adapter([])


def test_dispatch_prefers_the_least_busy_healthy_replica():
    loop = asyncio.new_event_loop()
    try:
        a = Replica("a", None, asyncio.Semaphore(1), outstanding=3)
        b = Replica("b", None, asyncio.Semaphore(1), outstanding=1)
        c = Replica("c", None, asyncio.Semaphore(1), outstanding=0, down_until=float("inf"))
        assert pick_replica([a, b, c]) is b
        b.failed(threshold=1, cooldown_s=1e9)
        assert pick_replica([a, b, c]) is a
        a.failed(threshold=1, cooldown_s=1e9)
        assert pick_replica([a, b, c]) in (a, b)  # every replica set aside: the one back first
        b.succeeded()
        assert pick_replica([a, b, c]) is b
    finally:
        loop.close()
