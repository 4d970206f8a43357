"""Build the canonical request for a planned row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from biasbench.config import GenerationConfig, ModelRef, RunConfig
from biasbench.core.messages import AudioPart, GenerationParams, Message, Part, RepeatKeys, Request, RequestContext, TextPart
from biasbench.runner.plan import PlannedRow
from biasbench.tasks.base import to_presented_index

if TYPE_CHECKING:
    from biasbench.runner.plan import Plan


def generation_params(config: RunConfig, model: ModelRef) -> GenerationParams:
    """Run defaults overridden by the model's own generation settings; seeded by the run seed."""
    chosen: GenerationConfig = model.generation or config.generation
    return GenerationParams(
        max_new_tokens=chosen.max_new_tokens, temperature=chosen.temperature, top_p=chosen.top_p, seed=config.seed
    )


def build_request(
    row: PlannedRow, clip: AudioPart | None, params: GenerationParams, system_prompt: str | None, oracle: bool = False
) -> Request:
    """System message (run-level mitigation prompt and/or the task's), then the user turn:
    the clip first (audio modality), then the text part. The oracle context (voice, labels,
    correct option) is attached only when ``oracle`` is True (an adapter declaring
    ``Capabilities(oracle=True)``); otherwise the request carries what a model would hear."""
    messages: list[Message] = []
    system = "\n\n".join(text for text in (system_prompt, row.prompt.system) if text)
    if system:
        messages.append(Message("system", (TextPart(system),)))
    parts: list[Part] = []
    if row.modality == "audio":
        if clip is None:
            raise ValueError(f"no audio for voice {row.voice_id} in an audio row")
        parts.append(clip)
    if row.prompt.text:
        parts.append(TextPart(row.prompt.text))
    messages.append(Message("user", tuple(parts)))
    context = oracle_context(row) if oracle else None
    return Request(messages=tuple(messages), params=params, repeat=row.repeat, context=context)


def oracle_context(row: PlannedRow) -> RequestContext:
    """Who speaks the row and where its correct option is presented (for oracle adapters only)."""
    item = row.item
    target = (
        to_presented_index(item.target, row.rotation, len(item.choices))
        if isinstance(item.target, int) and item.choices
        else None
    )
    return RequestContext(
        task=row.task,
        item_id=item.id,
        voice_id=row.voice.id if row.voice is not None else None,
        labels=tuple((label.axis, label.value) for label in row.voice.labels) if row.voice is not None else (),
        target_index=target,
        n_choices=len(row.prompt.choices),
        modality=row.modality,
    )


class RowRequests:
    """Each planned row's request and response key, for one run. Consecutive rows that differ only in their
    repeat (the plan puts a prompt's repeats together) share one request's messages and one hashed key
    prefix (:class:`RepeatKeys`): millions of rows cost one request per prompt, not one per row."""

    def __init__(self, config: RunConfig, plan: "Plan") -> None:
        self._config = config
        self._adapters = plan.adapters
        self._params = {model.name: generation_params(config, model) for model in config.models}
        self._fingerprints = {name: adapter.fingerprint() for name, adapter in plan.adapters.items()}
        self._shared: tuple[tuple, Request, RepeatKeys] | None = None

    def __call__(self, row: PlannedRow, clip: AudioPart | None) -> tuple[Request, str]:
        """(request, response key) of ``row`` asked with ``clip``."""
        base = (row.model, row.task, row.item, row.voice, row.modality, row.rotation, row.prompt)
        if self._shared is None or self._shared[0] != base:
            oracle = self._adapters[row.model].capabilities.oracle
            request = build_request(row, clip, self._params[row.model], self._config.system_prompt, oracle=oracle)
            self._shared = (base, request, RepeatKeys(request, self._fingerprints[row.model]))
        _, request, repeat_keys = self._shared
        if request.repeat != row.repeat:  # same messages, params and oracle context (one copy), another repeat
            request = Request(request.messages, request.params, row.repeat, request.context)
        return request, repeat_keys.key(row.repeat)
