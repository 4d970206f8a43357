"""Transcription: the model writes down what it heard; the score is WER after a documented normalization."""

from __future__ import annotations

from typing import Any, Callable, Literal

from pydantic import Field, field_validator

from biasbench.core.errors import DataError
from biasbench.core.item import Exclusion, Item
from biasbench.core.response import Response
from biasbench.tasks.base import Outcome, RenderedPrompt, ScreenedTask
from biasbench.tasks.screening import screen_items
from biasbench.tasks.sources import read_records
from biasbench.tasks.speakable import WORDS_PER_SECOND
from biasbench.tasks.textnorm import TRANSCRIPT_NORM_VERSION, normalize_transcript, transcript_normalizer


def word_errors(hypothesis: str, reference: str, normalize: Callable[[str], str] = normalize_transcript) -> dict[str, Any]:
    """WER of normalized texts with its parts: substitutions, deletions, insertions, reference words."""
    import jiwer

    hyp, ref = normalize(hypothesis), normalize(reference)
    if not ref:
        raise DataError("a transcription reference is empty after normalization")
    if not hyp:
        counts = {"substitutions": 0, "deletions": len(ref.split()), "insertions": 0}
    else:
        out = jiwer.process_words(ref, hyp)
        counts = {"substitutions": out.substitutions, "deletions": out.deletions, "insertions": out.insertions}
    n_ref = len(ref.split())
    wer = (counts["substitutions"] + counts["deletions"] + counts["insertions"]) / n_ref
    return {"wer": wer, "hypothesis": hyp, "reference": ref, "reference_words": n_ref, **counts}


class TranscriptionTask(ScreenedTask):
    """Sentences spoken by every voice; the model transcribes them (audio only; outcome 'scored' = WER)."""

    kind = "transcription"
    answer_type = "transcription"
    parser_version = f"wer-1+{TRANSCRIPT_NORM_VERSION}"
    path_fields = ("path",)

    class Config(ScreenedTask.Config):
        path: str
        """CSV / JSONL / JSON file of sentences."""
        format: Literal["auto", "csv", "jsonl", "json"] = "auto"
        """File format ('auto': by extension)."""
        id_column: str = "id"
        """Item id column."""
        text_column: str = "text"
        """Sentence column (what is spoken and the reference)."""
        modalities: tuple[Literal["audio"], ...] = ("audio",)
        """Audio only: transcribing text that is shown as text measures nothing."""
        instruction: str = "Transcribe the speech exactly. Reply with the transcript only."
        """Text sent alongside the audio."""
        max_audio_seconds: float | None = Field(30.0, gt=0)
        """Exclude sentences whose estimated spoken length exceeds this (listed as exclusions)."""
        words_per_second: float = Field(WORDS_PER_SECOND, gt=0)
        """Speaking rate assumed by the length estimate."""
        normalizer: Literal["whisper", "biasbench"] = "whisper"
        """Text normalization before WER: 'whisper' (Whisper's English normalizer, as ASR papers report WER;
        needs biasbench[wer]) or 'biasbench' (the project's own, see biasbench.tasks.textnorm)."""

        @field_validator("rotations")
        @classmethod
        def _one_rotation(cls, value: int) -> int:
            if value != 1:
                raise ValueError("transcription items have no options to rotate; rotations must be 1")
            return value

    def __init__(self, config: "TranscriptionTask.Config") -> None:
        super().__init__(config)
        self._normalize, tag = transcript_normalizer(config.normalizer)
        self.parser_version = f"wer-1+{tag}"  # the normalizer and its package version are part of the score key

    def prepare_items(self) -> tuple[list[Item], list[Exclusion]]:
        rows = read_records(self.config.path, self.config.format)
        missing = [c for c in (self.config.id_column, self.config.text_column) if c not in rows[0]]
        if missing:
            raise DataError(f"{self.config.path} lacks column(s) {', '.join(missing)}")
        items = [
            Item(str(row[self.config.id_column]), self.name, str(row[self.config.text_column]),
                 target=str(row[self.config.text_column]))
            for row in rows
        ]
        return screen_items(
            items,
            lambda item: item.text,
            check_speakable=False,
            max_audio_seconds=self.config.max_audio_seconds,
            words_per_second=self.config.words_per_second,
            metadata=lambda item: {"group": "", "item_group": ""},
        )

    def render(self, item: Item, modality: str, rotation: int) -> RenderedPrompt:
        if modality != "audio":
            raise DataError(f"task '{self.name}' runs in the audio modality only, not '{modality}'")
        return RenderedPrompt(item.text, self.config.instruction)

    def score(self, item: Item, rotation: int, response: Response) -> Outcome:
        errors = word_errors(response.text, str(item.target), self._normalize)
        return Outcome("scored", errors["hypothesis"], errors["wer"], errors)
