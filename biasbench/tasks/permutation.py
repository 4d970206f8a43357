"""Counterbalanced option order: which rotations each voice hears for each item.

``latin``: each voice hears one rotation per item, rotation = (item index + the voice's index
within its cell) mod R. Every cell gets the same rotation counts (cells of equal size), and each
cell hears every rotation equally often whenever items × voices-per-cell allows (e.g. the item
count is a multiple of R, or the cell size is). ``full``: every voice hears every rotation.
Voices are indexed within their cell in sorted-id order, so the assignment does not depend on
the order the pool file lists them. No randomness is involved.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from biasbench.core.errors import ConfigError
from biasbench.core.item import Item
from biasbench.core.voice import Voice

COUNTERBALANCE_MODES = ("latin", "full")
"""Accepted values of a task's ``counterbalance`` setting."""


def text_rotations(rotations: int) -> tuple[int, ...]:
    """Rotations the text-only control runs for each item (all of them)."""
    _check_rotations(rotations)
    return tuple(range(rotations))


def assign_rotations(
    items: Sequence[Item],
    voices: Sequence[Voice],
    axes: Sequence[str],
    rotations: int,
    mode: str,
) -> dict[tuple[str, str], tuple[int, ...]]:
    """(item_id, voice_id) -> rotations that voice hears for that item (see module docstring).

    Items without choices (open-ended, transcription) always get rotation 0.
    """
    _check_rotations(rotations)
    if mode not in COUNTERBALANCE_MODES:
        raise ConfigError(f"counterbalance '{mode}' is not one of {', '.join(COUNTERBALANCE_MODES)}")
    index_in_cell = _index_in_cell(voices, tuple(axes))
    assigned: dict[tuple[str, str], tuple[int, ...]] = {}
    for item_index, item in enumerate(items):
        for voice in voices:
            if not item.choices or rotations == 1:
                chosen: tuple[int, ...] = (0,)
            elif mode == "full":
                chosen = tuple(range(rotations))
            else:
                chosen = ((item_index + index_in_cell[voice.id]) % rotations,)
            assigned[(item.id, voice.id)] = chosen
    return assigned


def _index_in_cell(voices: Sequence[Voice], axes: tuple[str, ...]) -> dict[str, int]:
    cells: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for voice in voices:
        cells[voice.cell(axes)].append(voice.id)
    return {voice_id: index for ids in cells.values() for index, voice_id in enumerate(sorted(ids))}


def _check_rotations(rotations: int) -> None:
    if not isinstance(rotations, int) or rotations < 1:
        raise ConfigError(f"rotations must be a positive integer, got {rotations!r}")
