"""Counterbalanced option rotations: every group hears every rotation equally often."""

from __future__ import annotations

from collections import Counter
from itertools import product

import pytest

from biasbench.core.errors import ConfigError
from biasbench.core.item import Item
from biasbench.core.voice import DemographicLabel, Voice
from biasbench.tasks.base import rotate, to_original_index, to_presented_index
from biasbench.tasks.permutation import assign_rotations, text_rotations

AXES = ("gender", "race")


def _pool(per_cell: int) -> list[Voice]:
    voices = []
    for gender, race, k in product(("female", "male"), ("Asian", "Black", "White"), range(per_cell)):
        labels = (DemographicLabel("gender", gender, "designed"), DemographicLabel("race", race, "designed"))
        voices.append(Voice(f"{gender}-{race}-{k}", "espeak", labels, preset="en-us"))
    return voices


def _items(n: int) -> list[Item]:
    return [Item(f"q{i}", "t", f"question {i}?", ("w", "x", "y", "z"), 0) for i in range(n)]


@pytest.mark.parametrize("n_items", [8, 20])
def test_latin_2x3x2_pool_four_rotations_balanced_for_every_group(n_items: int) -> None:
    voices = _pool(2)
    assigned = assign_rotations(_items(n_items), voices, AXES, 4, "latin")
    assert all(len(r) == 1 for r in assigned.values())
    for axis in ("gender", "race"):
        for value in {v.label(axis) for v in voices}:
            counts = Counter(r for (item, vid), rs in assigned.items() for r in rs
                             if next(v for v in voices if v.id == vid).label(axis) == value)
            assert sorted(counts) == [0, 1, 2, 3]
            assert len(set(counts.values())) == 1, (axis, value, counts)


def test_latin_cells_identical_even_when_not_divisible() -> None:
    voices = _pool(3)
    assigned = assign_rotations(_items(5), voices, AXES, 4, "latin")
    per_cell = {}
    for voice in voices:
        cell = voice.cell(AXES)
        per_cell.setdefault(cell, Counter()).update(r for i in range(5) for r in assigned[(f"q{i}", voice.id)])
    assert len({tuple(sorted(c.items())) for c in per_cell.values()}) == 1


def test_full_mode_and_text_rotations() -> None:
    assigned = assign_rotations(_items(3), _pool(2), AXES, 3, "full")
    assert set(assigned.values()) == {(0, 1, 2)}
    assert text_rotations(3) == (0, 1, 2)


def test_assignment_independent_of_voice_order_and_deterministic() -> None:
    voices = _pool(2)
    a = assign_rotations(_items(6), voices, AXES, 4, "latin")
    b = assign_rotations(_items(6), list(reversed(voices)), AXES, 4, "latin")
    assert a == b


def test_items_without_choices_get_rotation_zero() -> None:
    items = [Item("s1", "t", "hello there", target="hello there")]
    assert set(assign_rotations(items, _pool(2), AXES, 4, "latin").values()) == {(0,)}


def test_bad_mode_and_rotations() -> None:
    with pytest.raises(ConfigError, match="counterbalance"):
        assign_rotations(_items(2), _pool(2), AXES, 2, "random")
    with pytest.raises(ConfigError, match="rotations"):
        text_rotations(0)


def test_rotation_helpers_round_trip() -> None:
    choices = ("a", "b", "c", "d")
    for r in range(4):
        presented = rotate(choices, r)
        for p in range(4):
            assert choices[to_original_index(p, r, 4)] == presented[p]
            assert to_presented_index(to_original_index(p, r, 4), r, 4) == p
