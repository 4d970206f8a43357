"""Chat-completions adapters on the official ``openai`` SDK: any OpenAI-compatible server and the GPT-4o audio family.

Audio goes as ``input_audio`` parts (base64 WAV); output is text only. Requests run concurrently
(async client) under a limit per API key; retryable failures (429 honouring Retry-After, 5xx,
connection resets, timeouts) back off exponentially (tenacity); non-retryable ones (401, 400, 404,
unreachable server) raise :class:`AdapterError` so the run stops with one line and keeps its rows.
The API key is read from the environment in :meth:`load` only and never written anywhere.

Requests go through the SDK's generic ``client.post`` (its transport, auth headers, timeouts and error
classes) with the JSON body written here, and the answer is read from the JSON directly: the typed
``chat.completions.create`` would run its per-request params transform and build response models,
which leave these bodies and fields unchanged (tested against the wire) but cost about 40% of a
bare loop's client CPU at high concurrency (``benchmarks/bench_api_concurrency.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

from pydantic import Field, field_validator

from biasbench.adapters.api_loop import run_on_api_loop, submit
from biasbench.adapters.base import Adapter, Capabilities
from biasbench.adapters.clip_payloads import CLIP_PAYLOADS
from biasbench.adapters.pricing import FREE, Prices, estimate_cost, prices_for
from biasbench.core.deps import require
from biasbench.core.errors import AdapterError, ConfigError
from biasbench.core.hashing import stable_hash
from biasbench.core.messages import AudioPart, Request, TextPart
from biasbench.core.registry import did_you_mean
from biasbench.core.response import Response, Usage

DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")
"""A pinned snapshot name ends with its date, e.g. 'gpt-4o-audio-preview-2025-06-03'."""

CHAT_PATH = "/chat/completions"
"""Chat-completions route, relative to the base URL."""

_LIMITS: dict[str, asyncio.Semaphore] = {}
"""API key + base URL digest -> concurrency limit shared by every adapter using them (on the API loop)."""


class MalformedAnswer(Exception):
    """A 200 answer that is not a chat completion; the message names the replica (that request fails, no retry)."""


class RetryableError(Exception):
    """A failure worth retrying, with the server's Retry-After in seconds when given."""

    def __init__(self, message: str, retry_after_s: float | None = None, replica_fault: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.replica_fault = replica_fault
        """True for failures that say the replica is unwell (connection, timeout, 5xx), not busy (429)."""


@dataclass
class Replica:
    """One server of a model's replicas, with what the dispatcher knows of it (lives on the API loop)."""

    url: str
    """Where it is (for messages only: never part of a key)."""
    client: Any
    """Its ``AsyncOpenAI`` client."""
    limit: asyncio.Semaphore
    """Requests in flight allowed on it (shared by every adapter using the same key and URL)."""
    outstanding: int = 0
    """Requests sent to it (or waiting for its limit) and not yet answered."""
    consecutive_failures: int = 0
    """Replica faults since its last success."""
    down_until: float = 0.0
    """Monotonic time before which it is set aside."""

    def healthy(self, now: float) -> bool:
        return now >= self.down_until

    def failed(self, threshold: int, cooldown_s: float) -> None:
        self.consecutive_failures += 1
        if self.consecutive_failures >= threshold:
            self.down_until = time.monotonic() + cooldown_s
            self.consecutive_failures = 0

    def succeeded(self) -> None:
        self.consecutive_failures = 0
        self.down_until = 0.0


def pick_replica(replicas: Sequence[Replica]) -> Replica:
    """Least outstanding requests among healthy replicas (first listed wins a tie); when every
    replica is set aside, the one that comes back first (the run's circuit breaker decides when to stop)."""
    now = time.monotonic()
    healthy = [replica for replica in replicas if replica.healthy(now)]
    if not healthy:
        return min(replicas, key=lambda replica: replica.down_until)
    return min(healthy, key=lambda replica: replica.outstanding)


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` headers (numeric form), else None."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(float(value) * scale, 0.0)
            except ValueError:
                continue
    return None


class OpenAICompatibleAdapter(Adapter):
    """Any server speaking OpenAI chat completions (vLLM, SGLang, LM Studio, ...)."""

    name = "openai-compatible"
    version = "1"
    capabilities: ClassVar[Capabilities] = Capabilities(audio_in=True, text_in=True, batch=False, async_=True)
    max_tokens_field: ClassVar[str] = "max_tokens"
    """Request field that caps output tokens."""

    class Config(Adapter.Config):
        """Server, model and client behaviour (the key itself is never a parameter)."""

        model: str
        """Model name as the server knows it."""
        base_url: str | tuple[str, ...] | None = None
        """Server root including /v1 (required here; the OpenAI API for openai-audio), or a list of
        data-parallel replicas serving the same model (requests go to the least busy healthy one)."""
        revision: str | None = None
        """Revision of the served weights (e.g. the HF commit given to ``vllm serve --revision``); part
        of the response key, so answers from different weights served under one name never mix."""
        api_key_env: str = "OPENAI_API_KEY"
        """Environment variable holding the key (read in load(), never stored)."""
        require_api_key: bool = False
        """Fail at load() when the variable is unset (local servers usually need no key)."""
        concurrency_per_key: int = Field(16, ge=1)
        """Most requests in flight per API key and server (per replica), across every model using them."""
        replica_failures: int = Field(3, ge=1)
        """Consecutive connection failures or 5xx after which a replica is set aside for a while."""
        replica_cooldown_s: float = Field(10.0, ge=0)
        """Seconds a failing replica is set aside before it is tried again."""
        timeout_s: float = Field(120.0, gt=0)
        """Seconds before one attempt is abandoned (then retried)."""
        max_attempts: int = Field(6, ge=1)
        """Attempts per request for retryable failures."""
        backoff_initial_s: float = Field(1.0, ge=0)
        """First backoff (doubles each retry) when the server gives no Retry-After."""
        backoff_max_s: float = Field(60.0, ge=0)
        """Longest single wait."""
        preflight: bool = True
        """Call GET /models in load(): checks the server is reachable, the key valid and the model served."""
        prices: Prices | None = None
        """USD per 1M tokens (input_text, input_audio, output_text); default: the price table or free."""
        extra_body: dict[str, Any] = Field(default_factory=lambda: {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0})
        """Extra sampling fields sent explicitly (vLLM otherwise applies the model's generation_config)."""

        @field_validator("base_url", mode="before")
        @classmethod
        def _url(cls, value: Any) -> str | tuple[str, ...] | None:
            if value is None or value == "":
                return None
            urls = [value] if isinstance(value, str) else list(value)
            if not urls:
                raise ValueError("base_url is an empty list")
            for url in urls:
                if not isinstance(url, str) or not re.match(r"^https?://", url):
                    raise ValueError(f"base_url '{url}' must start with http:// or https://")
            cleaned = tuple(url.rstrip("/") for url in urls)
            if len(set(cleaned)) != len(cleaned):
                raise ValueError("base_url lists the same replica twice")
            return cleaned[0] if isinstance(value, str) else cleaned

        @property
        def urls(self) -> tuple[str | None, ...]:
            """Every replica's URL (``(None,)`` for the SDK's default, the OpenAI API)."""
            if self.base_url is None:
                return (None,)
            return (self.base_url,) if isinstance(self.base_url, str) else self.base_url

    def __init__(self, config: "OpenAICompatibleAdapter.Config") -> None:
        super().__init__(config)
        self.check_config()
        self._openai: Any = None
        self._api_key: str | None = None
        self._replicas: list[Replica] = []
        self._tenacity: Any = None
        self._request_options: dict[str, Any] = {}

    def check_config(self) -> None:
        """Adapter-specific rules beyond the schema (raise ConfigError)."""
        if not self.config.base_url:
            raise ConfigError(f"adapter '{self.name}' needs params.base_url (e.g. http://localhost:8000/v1)")

    @property
    def prices(self) -> Prices:
        """Prices used for cost (explicit, else the table, else free)."""
        return self.config.prices or prices_for(self.config.model) or FREE

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        # Output-affecting identity only: the served model (id, revision) and every sampling field.
        # Where it is served (URLs, replicas, ports) and client behaviour do not change answers, so
        # a server restarted on another port, or another replica, keeps every cached answer.
        keep = ("model", "revision", "extra_body")
        info["config"] = {key: value for key, value in info["config"].items() if key in keep}
        return info

    # ----- client ----------------------------------------------------------------------------
    def load(self) -> None:
        if self._openai is not None:
            return
        self._openai = require("openai", "openai", purpose=f"the {self.name} adapter")
        self._tenacity = require("tenacity", "openai", purpose="retrying API requests")
        key = os.environ.get(self.config.api_key_env)
        if not key and self.config.require_api_key:
            raise AdapterError(
                f"environment variable {self.config.api_key_env} is not set (adapter '{self.name}' needs an API key)",
                hint=f"export {self.config.api_key_env}=...",
            )
        self._api_key = key or "EMPTY"
        self._request_options = sdk_request_options(self._openai)
        if self.config.preflight:
            self._preflight()

    def replicas(self) -> list["Replica"]:
        """Replica states (created on, and only used from, the shared API loop)."""
        if not self._replicas:
            for url in self.config.urls:
                client = self._openai.AsyncOpenAI(
                    api_key=self._api_key, base_url=url, timeout=self.config.timeout_s, max_retries=0
                )
                key = stable_hash(self._api_key, url)[:16]
                if key not in _LIMITS:
                    _LIMITS[key] = asyncio.Semaphore(self.config.concurrency_per_key)
                self._replicas.append(Replica(url or "the OpenAI API", client, _LIMITS[key]))
        return self._replicas

    def _scrub(self, text: str) -> str:
        """``text`` with the API key masked (server messages sometimes echo it)."""
        key = self._api_key
        one_line = " ".join(str(text).split())
        return one_line.replace(key, "***") if key and key != "EMPTY" else one_line

    def _preflight(self) -> None:
        for url in self.config.urls:
            self._preflight_one(url)

    def _preflight_one(self, url: str | None) -> None:
        openai = self._openai
        where = url or "the OpenAI API"
        client = openai.OpenAI(api_key=self._api_key, base_url=url, timeout=min(self.config.timeout_s, 15.0), max_retries=1)
        try:
            served = [model.id for model in client.models.list()]
        except openai.AuthenticationError:
            raise AdapterError(
                f"{where} rejected the API key in {self.config.api_key_env} (401)",
                hint=f"check {self.config.api_key_env}",
            ) from None
        except (openai.APIConnectionError, openai.APITimeoutError):
            raise AdapterError(
                f"cannot reach {where} for model '{self.config.model}'",
                hint="is the server running? check params.base_url",
            ) from None
        except openai.APIStatusError as exc:
            raise AdapterError(f"{where} answered GET /models with {exc.status_code}: {self._scrub(exc.message)}") from None
        finally:
            client.close()
        if self.config.model not in served:
            raise AdapterError(
                f"{where} does not serve model '{self.config.model}'{did_you_mean(self.config.model, served)}",
                hint=f"served: {', '.join(served[:8]) or 'none'}",
            )

    # ----- rendering -------------------------------------------------------------------------
    def render(self, request: Request) -> list[dict[str, Any]]:
        """Canonical messages as chat-completions messages (audio as base64 WAV ``input_audio``)."""
        rendered = []
        for message in request.messages:
            if message.role != "user" and all(isinstance(p, TextPart) for p in message.parts):
                rendered.append({"role": message.role, "content": message.text()})
                continue
            content = []
            for part in message.parts:
                if isinstance(part, AudioPart):
                    content.append({"type": "input_audio", "input_audio": {"data": _wav_base64(part), "format": "wav"}})
                else:
                    content.append({"type": "text", "text": part.text})
            rendered.append({"role": message.role, "content": content})
        return rendered

    def request_body(self, request: Request) -> dict[str, Any]:
        """The JSON body sent for ``request`` (all sampling parameters explicit, extra fields merged in)."""
        params = request.params
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": self.render(request),
            "temperature": params.temperature,
            "top_p": params.top_p,
            self.max_tokens_field: params.max_new_tokens,
            "n": 1,
        }
        if params.seed is not None:
            body["seed"] = params.seed + request.repeat
        body.update(self.extra_fields())
        return body

    def extra_fields(self) -> dict[str, Any]:
        """Family-specific body fields (``extra_body``); they win over the standard ones, as the SDK's do."""
        return dict(self.config.extra_body)

    def estimate_cost_usd(self, prompts: Sequence[tuple[str | None, str]], max_new_tokens: int) -> float:
        return estimate_cost(self.prices, prompts, max_new_tokens).usd

    # ----- calling ---------------------------------------------------------------------------
    def warm_up(self, requests: Sequence[Request]) -> None:
        """Encode the requests' clips ahead of them, in a background thread (see :mod:`clip_payloads`)."""
        CLIP_PAYLOADS.prefetch([part for request in requests for part in request.audio_parts()])

    async def agenerate(self, request: Request) -> Response:
        if self._openai is None:
            self.load()
        return await run_on_api_loop(self._agenerate(request))

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Answer ``requests`` concurrently (under the per-key limit) from synchronous code."""
        if self._openai is None:
            self.load()
        futures = [submit(self._agenerate(request)) for request in requests]
        return [future.result() for future in futures]

    async def _agenerate(self, request: Request) -> Response:
        start = time.perf_counter()
        try:
            body = self.request_body(request)
        except OSError as exc:
            return Response.failed(f"cannot read audio: {exc}", time.perf_counter() - start)
        try:
            try:
                completion = await self._call(body)  # the common case: no retry machinery per request
            except RetryableError as first:
                completion = await self._retry(body, first)
        except RetryableError as exc:
            return Response.failed(f"gave up after {self.config.max_attempts} attempts: {exc}", time.perf_counter() - start)
        except MalformedAnswer as exc:
            return Response.failed(str(exc), time.perf_counter() - start)
        return self.to_response(completion, time.perf_counter() - start)

    def _backoff_s(self, failure: BaseException | None, attempt: int) -> float:
        """Wait after failed attempt number ``attempt``: the server's Retry-After, else exponential backoff."""
        hinted = getattr(failure, "retry_after_s", None)
        backoff = self.config.backoff_initial_s * 2 ** (attempt - 1)
        return min(hinted if hinted is not None else backoff, self.config.backoff_max_s)

    async def _retry(self, body: dict[str, Any], first: RetryableError) -> dict[str, Any]:
        """Attempts 2 .. ``max_attempts`` after the first failed retryably (tenacity); re-raises the last failure."""
        if self.config.max_attempts <= 1:
            raise first
        tenacity = self._tenacity
        await asyncio.sleep(self._backoff_s(first, 1))
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.config.max_attempts - 1),
            wait=lambda state: self._backoff_s(state.outcome.exception(), state.attempt_number + 1),
            retry=tenacity.retry_if_exception_type(RetryableError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                completion = await self._call(body)
        return completion

    async def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        replica = pick_replica(self.replicas())
        replica.outstanding += 1
        try:
            async with replica.limit:
                result = await self._call_replica(replica, body)
        except RetryableError as exc:
            if exc.replica_fault:
                replica.failed(self.config.replica_failures, self.config.replica_cooldown_s)
            raise
        finally:
            replica.outstanding -= 1
        replica.succeeded()
        return result

    async def _call_replica(self, replica: "Replica", body: dict[str, Any]) -> dict[str, Any]:
        openai = self._openai
        try:
            raw = await replica.client.post(CHAT_PATH, cast_to=bytes, body=body, options=self._request_options)
        except openai.RateLimitError as exc:
            raise RetryableError(f"429 {self._scrub(exc.message)}", retry_after_seconds(exc.response.headers)) from None
        except openai.InternalServerError as exc:
            raise RetryableError(
                f"{exc.status_code} {self._scrub(exc.message)}", retry_after_seconds(exc.response.headers), replica_fault=True
            ) from None
        except openai.APITimeoutError:
            raise RetryableError(f"no answer within {self.config.timeout_s:g} s", replica_fault=True) from None
        except openai.APIConnectionError as exc:
            raise RetryableError(f"connection to {replica.url} failed: {self._scrub(str(exc.__cause__ or exc))}", replica_fault=True) from None
        except openai.AuthenticationError:
            raise AdapterError(f"{replica.url} rejected the API key in {self.config.api_key_env} (401)") from None
        except openai.APIStatusError as exc:
            if exc.status_code in (408, 409) or exc.status_code >= 500:
                raise RetryableError(f"{exc.status_code} {self._scrub(exc.message)}", replica_fault=exc.status_code >= 500) from None
            raise AdapterError(
                f"{replica.url} refused a request for '{self.config.model}' ({exc.status_code}): {self._scrub(exc.message)}"
            ) from None
        try:
            return chat_completion(raw)
        except ValueError as exc:
            raise MalformedAnswer(self._scrub(f"{replica.url} answered 200 with {exc}")) from None

    def to_response(self, completion: dict[str, Any], latency_s: float) -> Response:
        """A :class:`Response` from a chat completion's JSON (usage incl. audio tokens, cost, refusal flag)."""
        choice = completion["choices"][0]
        message = choice["message"]
        refusal_text = message.get("refusal")
        finish_reason = choice.get("finish_reason")
        refused = bool(refusal_text) or finish_reason == "content_filter"
        usage = _usage(completion.get("usage"))
        return Response(
            text=(message.get("content") or refusal_text or "").strip(),
            finish_reason=finish_reason or "stop",
            usage=usage,
            latency_s=latency_s,
            refusal=refused,
            cost_usd=self.prices.cost(usage),
            extra={"response_model": completion.get("model"), "system_fingerprint": completion.get("system_fingerprint")},
        )

    def close(self) -> None:
        CLIP_PAYLOADS.stop_prefetch()
        replicas, self._replicas = self._replicas, []
        for replica in replicas:
            submit(replica.client.close()).result(timeout=30)


class OpenAIAudioAdapter(OpenAICompatibleAdapter):
    """OpenAI's GPT-4o audio family (dated snapshots), text output only."""

    name = "openai-audio"
    version = "1"
    max_tokens_field = "max_completion_tokens"

    class Config(OpenAICompatibleAdapter.Config):
        model: str = "gpt-4o-audio-preview-2025-06-03"
        """A dated snapshot (undated aliases drift; see allow_undated)."""
        require_api_key: bool = True
        """The OpenAI API always needs a key."""
        allow_undated: bool = False
        """Accept an undated alias such as 'gpt-4o-audio-preview' (results may drift)."""
        extra_body: dict[str, Any] = Field(default_factory=dict)
        """Extra request fields (the OpenAI API rejects unknown ones)."""

    def check_config(self) -> None:
        model = self.config.model
        if not DATED.search(model) and not self.config.allow_undated:
            raise ConfigError(
                f"openai-audio model '{model}' is not a dated snapshot; pin one such as 'gpt-4o-audio-preview-2025-06-03'",
                hint="or set allow_undated: true",
            )
        if self.config.prices is None and prices_for(model) is None:
            raise ConfigError(
                f"no price for '{model}' in biasbench/adapters/pricing.py; give params.prices "
                "{input_text, input_audio, output_text} in USD per 1M tokens",
            )

    def extra_fields(self) -> dict[str, Any]:
        return {"modalities": ["text"], **super().extra_fields()}


def _wav_base64(part: AudioPart) -> str:
    """The clip as base64 WAV, encoded once per clip for the whole process (see :mod:`clip_payloads`)."""
    return CLIP_PAYLOADS.base64_wav(part)


def sdk_request_options(openai: Any) -> dict[str, Any]:
    """Per-request SDK options that make ``client.post`` authenticate as ``chat.completions.create``
    does (SDKs with per-route security send the bearer key only; older ones have no such option)."""
    request_options = getattr(getattr(openai, "_types", None), "RequestOptions", None)
    return {"security": {"bearer_auth": True}} if "security" in getattr(request_options, "__annotations__", {}) else {}


def chat_completion(raw: bytes) -> dict[str, Any]:
    """The chat completion in a successful answer's body; ValueError saying what is wrong otherwise."""
    try:
        completion = json.loads(raw)
    except ValueError:
        raise ValueError(f"a body that is not JSON: {_body_start(raw)}") from None
    choices = completion.get("choices") if isinstance(completion, dict) else None
    message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise ValueError(f"JSON that is not a chat completion (no choices[0].message): {_body_start(raw)}")
    if not isinstance(message.get("content"), (str, type(None))) or not isinstance(message.get("refusal"), (str, type(None))):
        raise ValueError(f"a message whose content or refusal is not text: {_body_start(raw)}")
    return completion


def _body_start(raw: bytes, limit: int = 80) -> str:
    """The start of a body, on one line, for an error message."""
    text = " ".join(raw[:limit].decode("utf-8", "replace").split())
    return text + ("..." if len(raw) > limit else "")


def _usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("prompt_tokens_details")
    audio = details.get("audio_tokens") if isinstance(details, dict) else None
    return Usage(input_tokens=usage.get("prompt_tokens") or 0, output_tokens=usage.get("completion_tokens") or 0, audio_tokens=audio or 0)
