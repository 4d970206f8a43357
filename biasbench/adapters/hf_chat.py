"""Generic adapter for transformers speech LMs whose processor takes a chat template with audio content.

One code path for every family: render canonical messages as a chat conversation, apply the
model's chat template (text), call the processor with ``audio=`` (never ``audios=``, which current
transformers ignores), generate greedily with ``max_new_tokens`` and left padding, and slice the
prompt tokens off. Families differ only in small subclass hooks (model class, audio content entry,
default system prompt). Requests are batched in groups of similar audio duration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

from pydantic import Field

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.core.audio import MODEL_SAMPLE_RATE, read_audio
from biasbench.core.deps import is_available, require
from biasbench.core.errors import AdapterError, BiasbenchError, ConfigError
from biasbench.core.hashing import file_sha256, stable_hash
from biasbench.core.messages import AudioPart, GenerationParams, Request, TextPart
from biasbench.core.response import Response, Usage

DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Prepared:
    """One request made ready for the processor."""

    index: int
    """Position in the caller's list."""
    prompt: str
    """Chat-templated prompt text."""
    audio: tuple[Any, ...]
    """16 kHz float32 arrays, in the order of the audio placeholders."""
    duration_s: float
    """Total audio seconds (for grouping similar lengths into one batch)."""
    params: GenerationParams
    """Decoding settings (one batch never mixes different settings)."""
    repeat: int
    """Repeat index (sampling seed offset)."""


def local_snapshot_identity(folder: Path) -> dict[str, Any]:
    """Identity of a local checkpoint: hash of its config files and the names and sizes of its weights."""
    configs = sorted(p for p in folder.glob("*.json") if p.is_file())
    weights = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".gguf"))
    return {
        "local": True,
        "configs_sha256": stable_hash([(p.name, file_sha256(p)) for p in configs])[:16],
        "weights": [(p.name, p.stat().st_size) for p in weights],
    }


def hub_snapshot(model_id: str, revision: str | None) -> str | None:
    """Commit hash of ``model_id`` in the local Hugging Face cache (no network), or None."""
    if not is_available("huggingface_hub"):
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "config.json", revision=revision)
    if not isinstance(found, str):
        return None
    parts = Path(found).parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts else None


def checkpoint_identity(model: str, revision: str | None) -> dict[str, Any]:
    """What pins the weights: a local folder's content identity, or the hub id + resolved commit."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return local_snapshot_identity(folder)
    return {"hub_id": model, "revision": revision, "snapshot": hub_snapshot(model, revision) or revision or "unresolved"}


class HFChatAdapter(Adapter):
    """Base of transformers chat-template speech LMs (subclasses set the family hooks)."""

    name = ""
    version = "1"
    capabilities: ClassVar[Capabilities] = Capabilities(audio_in=True, text_in=True, batch=True)

    model_class: ClassVar[str] = "AutoModelForImageTextToText"
    """Name of the transformers class that loads the model."""
    default_system: ClassVar[str | None] = None
    """System prompt the family needs when a request has none (None = leave to the chat template)."""
    required_modules: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(module, extra) pairs the family's transformers processor or model needs beyond torch/transformers."""

    class Config(Adapter.Config):
        """Checkpoint and runtime settings."""

        model: str = ""
        """Hub id or local folder of the checkpoint."""
        revision: str | None = None
        """Hub commit or tag to pin (recorded in the fingerprint)."""
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
        """Weight dtype ('auto' = the checkpoint's)."""
        device_map: str | None = None
        """transformers device_map ('auto', 'cpu', 'cuda:0'); None = CPU."""
        lora_path: str | None = None
        """Optional PEFT LoRA adapter folder applied on top of the weights."""
        batch_size: int = Field(8, ge=1)
        """Most requests per forward pass; requests are grouped by audio duration first."""
        attn_implementation: str | None = None
        """e.g. 'sdpa', 'flash_attention_2' (None = transformers' default)."""
        trust_remote_code: bool = False
        """Allow checkpoint code (only for families not native in transformers)."""

    def __init__(self, config: "HFChatAdapter.Config") -> None:
        super().__init__(config)
        if not config.model:
            raise ConfigError(f"adapter '{self.name}' needs params.model (a hub id or a local folder)")
        if config.lora_path and not Path(config.lora_path, "adapter_config.json").is_file():
            raise ConfigError(f"lora_path {config.lora_path} has no adapter_config.json (not a PEFT adapter folder)")
        self.processor: Any = None
        self.model: Any = None
        self._torch: Any = None

    # ----- identity -------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["checkpoint"] = checkpoint_identity(self.config.model, self.config.revision)
        if self.config.lora_path:
            info["lora"] = local_snapshot_identity(Path(self.config.lora_path)) | {
                "weights_sha256": [
                    file_sha256(p) for p in sorted(Path(self.config.lora_path).glob("*.safetensors"))
                ]
            }
        if is_available("transformers"):
            from importlib.metadata import version

            info["transformers"] = version("transformers")
        return info

    # ----- loading ----------------------------------------------------------------------------
    def load(self) -> None:
        if self.model is not None:
            return
        self._torch = require("torch", "hf", purpose=f"the {self.name} adapter")
        transformers = require("transformers", "hf", purpose=f"the {self.name} adapter")
        for module, extra in self.required_modules:
            require(module, extra, purpose=f"the {self.name} adapter (its transformers processor or model imports it)")
        model_cls = getattr(transformers, self.model_class, None)
        if model_cls is None:
            raise AdapterError(
                f"transformers {transformers.__version__} has no {self.model_class} (needed by '{self.name}')",
                hint="pip install -U 'biasbench[hf]'",
            )
        common = {"revision": self.config.revision, "trust_remote_code": self.config.trust_remote_code}
        try:
            self.processor = self.load_processor(transformers, common)
            kwargs: dict[str, Any] = dict(common, dtype=self.config.dtype)
            if self.config.device_map:
                kwargs["device_map"] = self.config.device_map
            if self.config.attn_implementation:
                kwargs["attn_implementation"] = self.config.attn_implementation
            model = model_cls.from_pretrained(self.config.model, **kwargs)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AdapterError(
                f"cannot load '{self.config.model}' for adapter '{self.name}': {first}",
                hint="set params.model to a local folder, or download it first with `hf download MODEL`",
            ) from None
        if self.config.lora_path:
            peft = require("peft", "hf", purpose="loading a LoRA adapter")
            model = peft.PeftModel.from_pretrained(model, self.config.lora_path)
        self.tokenizer.padding_side = "left"
        self.model = model.eval()

    def load_processor(self, transformers: Any, common: dict[str, Any]) -> Any:
        """The processor (or tokenizer) that turns prompts and audio into model inputs."""
        return transformers.AutoProcessor.from_pretrained(self.config.model, **common)

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    # ----- family hooks -----------------------------------------------------------------------
    def audio_content(self, part: AudioPart) -> dict[str, Any]:
        """The chat-template entry for one clip (the processor receives the samples separately)."""
        return {"type": "audio", "audio": part.path}

    def conversation(self, request: Request) -> list[dict[str, Any]]:
        """Canonical messages as a chat-template conversation."""
        messages = []
        if self.default_system and request.messages[0].role != "system":
            messages.append({"role": "system", "content": [{"type": "text", "text": self.default_system}]})
        for message in request.messages:
            content = [
                self.audio_content(part) if isinstance(part, AudioPart) else {"type": "text", "text": part.text}
                for part in message.parts
                if isinstance(part, (AudioPart, TextPart))
            ]
            messages.append({"role": message.role, "content": content})
        return messages

    def prompt_text(self, request: Request) -> str:
        """The chat-templated prompt (with the generation prompt appended)."""
        return self.processor.apply_chat_template(self.conversation(request), add_generation_prompt=True, tokenize=False)

    # ----- encoding and generation ----------------------------------------------------------------
    def prepare(self, index: int, request: Request) -> Prepared:
        """Read the request's audio (16 kHz) and render its prompt; bad audio raises DataError."""
        arrays = [read_audio(part.path, target_rate=MODEL_SAMPLE_RATE)[0] for part in request.audio_parts()]
        return Prepared(
            index,
            self.prompt_text(request),
            tuple(audio.samples for audio in arrays),
            sum(audio.duration_s for audio in arrays),
            request.params,
            request.repeat,
        )

    def encode(self, batch: Sequence[Prepared]) -> Any:
        """Processor inputs for a batch (left-padded; audio passed as ``audio=``)."""
        audio = [clip for prepared in batch for clip in prepared.audio]
        kwargs: dict[str, Any] = {"text": [prepared.prompt for prepared in batch], "return_tensors": "pt", "padding": True}
        if audio:
            kwargs["audio"] = audio
            kwargs["sampling_rate"] = MODEL_SAMPLE_RATE
        inputs = self.processor(**kwargs, **self.encode_kwargs())
        device = getattr(self.model, "device", None)
        return inputs.to(device) if device is not None else inputs

    def encode_kwargs(self) -> dict[str, Any]:
        """Extra processor arguments of the family."""
        return {}

    def encode_requests(self, requests: Sequence[Request]) -> Any:
        """Model inputs for ``requests`` as one batch (tests use it for the audio canary)."""
        self.load()
        return self.encode([self.prepare(i, r) for i, r in enumerate(requests)])

    def generation_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        """Every decoding setting explicit; greedy unless temperature > 0 (sampling is seeded per
        batch, so sampled answers also depend on which requests share a batch)."""
        kwargs: dict[str, Any] = {"max_new_tokens": params.max_new_tokens, "do_sample": not params.greedy}
        if params.greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)  # 0: no top-k cut-off
        eos = self.model.generation_config.eos_token_id
        kwargs["pad_token_id"] = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        return kwargs

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        self.load()
        responses: list[Response | None] = [None] * len(requests)
        ready: list[Prepared] = []
        for index, request in enumerate(requests):
            try:
                ready.append(self.prepare(index, request))
            except BiasbenchError as exc:
                responses[index] = Response.failed(exc.one_line())
        for batch in self.batches(ready):
            for prepared, response in zip(batch, self._generate_batch(batch)):
                responses[prepared.index] = response
        return [response for response in responses if response is not None]

    def batches(self, ready: Sequence[Prepared]) -> list[list[Prepared]]:
        """Groups of at most ``batch_size`` with equal decoding settings and similar audio length."""
        ordered = sorted(ready, key=lambda p: (stable_hash(p.params.to_json(), p.repeat), p.duration_s, p.index))
        groups: list[list[Prepared]] = []
        for prepared in ordered:
            last = groups[-1] if groups else None
            if last and len(last) < self.config.batch_size and (last[0].params, last[0].repeat) == (prepared.params, prepared.repeat):
                last.append(prepared)
            else:
                groups.append([prepared])
        return groups

    def _generate_batch(self, batch: Sequence[Prepared]) -> list[Response]:
        torch = self._torch
        start = time.perf_counter()
        params = batch[0].params
        inputs = self.encode(batch)
        if not params.greedy and params.seed is not None:
            torch.manual_seed(params.seed + batch[0].repeat)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **self.generation_kwargs(params))
        sequences = output.sequences if hasattr(output, "sequences") else output
        generated = sequences[:, inputs["input_ids"].shape[1]:]
        per_request = (time.perf_counter() - start) / len(batch)
        eos_ids = self._eos_ids()
        audio_token = self._audio_token_id()
        responses = []
        for row, tokens in enumerate(generated.tolist()):
            stop = next((i for i, token in enumerate(tokens) if token in eos_ids), None)
            kept = tokens if stop is None else tokens[:stop]
            finish = "length" if stop is None else "stop"
            prompt_ids = inputs["input_ids"][row]
            mask = inputs.get("attention_mask")
            usage = Usage(
                input_tokens=int(mask[row].sum()) if mask is not None else int(prompt_ids.numel()),
                output_tokens=len(kept) + (stop is not None),
                audio_tokens=int((prompt_ids == audio_token).sum()) if audio_token is not None else 0,
            )
            text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
            responses.append(Response(text=text, finish_reason=finish, usage=usage, latency_s=per_request))
        return responses

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def _audio_token_id(self) -> int | None:
        token = getattr(self.processor, "audio_token", None)
        if not token:
            return None
        token_id = self.tokenizer.convert_tokens_to_ids(token)
        return token_id if isinstance(token_id, int) and token_id != self.tokenizer.unk_token_id else None

    def close(self) -> None:
        self.model = None
        self.processor = None
