"""Item screening shared by spoken tasks: speakability and the spoken-length limit (listed, never silent)."""

from __future__ import annotations

from typing import Callable, Sequence

from biasbench.core.item import Exclusion, Item
from biasbench.tasks.speakable import estimated_seconds, speakability_problems


def screen_items(
    items: Sequence[Item],
    spoken_text: Callable[[Item], str],
    *,
    check_speakable: bool,
    max_audio_seconds: float | None,
    words_per_second: float,
    metadata: Callable[[Item], dict],
) -> tuple[list[Item], list[Exclusion]]:
    """Split ``items`` into those kept and :class:`Exclusion` records with reasons.

    ``spoken_text`` gives the longest text the TTS will read for an item (used for the length
    estimate); ``metadata`` gives each exclusion's context (item_group, subject); speakability is judged on the item's own words (question and options).
    """
    kept: list[Item] = []
    excluded: list[Exclusion] = []
    for item in items:
        reasons = speakability_problems(item.text, *item.choices) if check_speakable else []
        if max_audio_seconds is not None:
            seconds = estimated_seconds(spoken_text(item), words_per_second)
            if seconds > max_audio_seconds:
                reasons.append(f"estimated {seconds:.1f} s of speech > max_audio_seconds={max_audio_seconds:g}")
        if reasons:
            excluded.append(Exclusion(item.task, item.id, "; ".join(reasons), metadata(item)))
        else:
            kept.append(item)
    return kept, excluded
