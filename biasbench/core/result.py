"""The tidy result row: one row per model × task × item × voice × modality × permutation × repeat."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

OUTCOMES = ("correct", "incorrect", "invalid", "refusal", "scored", "error")
"""Row outcomes. 'scored' rows carry a numeric score (WER, task score) instead of right/wrong;
'error' rows got no answer (the adapter failed) and are reported, never counted as wrong."""

TEXT_VOICE = "__text__"
"""Voice id of text-control rows (the item sent as text; no voice)."""


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One scored answer. Column names are the public schema of results.parquet / results.csv."""

    run_id: str
    """Run directory name."""
    model: str
    """Model label from the config."""
    adapter: str
    """Adapter name in the registry."""
    adapter_fingerprint: str
    """Hash of the adapter's output-affecting configuration."""
    task: str
    """Task name."""
    task_version: str
    """Task spec version (rows of different versions are not comparable)."""
    item_id: str
    """Item id within the task."""
    item_group: str
    """Stratum of the item (MMLU subject, BBQ category; '' if none)."""
    voice_id: str
    """Voice id, or :data:`TEXT_VOICE` for the text-only control."""
    gender: str
    """Voice's gender label ('' when not labelled)."""
    race: str
    """Voice's race label ('' when not labelled)."""
    accent: str
    """Voice's accent label ('' when not labelled)."""
    age_band: str
    """Voice's age band ('' when not labelled)."""
    cell: str
    """The voice's cell on the pool axes, joined with '|' ('' for text rows)."""
    modality: str
    """'audio' or 'text'."""
    permutation: int
    """Option-order rotation presented (0 = original order)."""
    repeat: int
    """Repeat index."""
    response_key: str
    """Response cache key."""
    response: str
    """Raw model output."""
    parsed: str
    """Parsed answer in the original option space ('' when none)."""
    target: str
    """Correct answer in the original option space ('' when none)."""
    outcome: str
    """One of :data:`OUTCOMES`."""
    score: float | None
    """1/0 for correct/incorrect, WER for transcription, a task score, or None."""
    latency_s: float
    """Seconds the model took for this row."""
    cached: bool
    """True when the answer came from an earlier invocation's log."""
    error: str
    """Error message ('' when none)."""
    finish_reason: str
    """Backend finish reason."""
    input_tokens: int
    """Prompt tokens (audio included)."""
    output_tokens: int
    """Generated tokens."""
    cost_usd: float
    """API cost."""
    transcript: str
    """ASR transcript (cascades; '' otherwise)."""
    parser_version: str
    """Version of the parser that produced ``parsed`` and ``outcome``."""
    score_key: str
    """hash(response key, parser version): re-scoring changes it without re-running models."""
    details: str
    """Task-specific JSON (e.g. mapped occupation, BBQ polarity)."""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome '{self.outcome}'")

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


RESULT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ResultRow))
"""Column order of the tidy table."""
