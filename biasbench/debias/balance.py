"""Assign instructions to the voices of a pool split so every demographic cell speaks equally often."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

from biasbench.core.errors import ConfigError
from biasbench.core.hashing import seed_from
from biasbench.core.item import Exclusion
from biasbench.core.voice import Voice, VoicePool
from biasbench.debias.instructions import Instruction


@dataclass(frozen=True)
class Assignment:
    """One instruction spoken by one voice."""

    instruction: Instruction
    """What is said and the target answer."""
    voice: Voice
    """Who says it."""
    cell: str
    """The voice's cell on the pool axes, joined with '|'."""


def balanced_assignments(
    instructions: Sequence[Instruction], pool: VoicePool, voices: Sequence[Voice], *, voices_per_instruction: int, seed: int
) -> tuple[list[Assignment], list[Exclusion]]:
    """Each instruction spoken by ``voices_per_instruction`` voices from different cells; every cell
    gets exactly the same number of rows and its voices take turns (seeded order).

    Instructions beyond the largest count that divides evenly over the cells are excluded with a
    reason (at most ``cells - 1`` of them), so the data never over-represents a cell.
    """
    cells = pool.cells(tuple(voices))
    if not cells:
        raise ConfigError(f"pool '{pool.name}' has no voices in this split")
    n_cells = len(cells)
    if voices_per_instruction > n_cells:
        raise ConfigError(
            f"voices_per_instruction={voices_per_instruction} exceeds the {n_cells} cells of pool '{pool.name}'"
        )
    step = n_cells // math.gcd(n_cells, voices_per_instruction)
    usable = len(instructions) - len(instructions) % step
    kept, dropped = list(instructions[:usable]), instructions[usable:]
    exclusions = [
        Exclusion(item.dataset, item.id, f"left out so every one of the {n_cells} cells speaks the same number of instructions")
        for item in dropped
    ]
    ordered_cells = list(cells.items())
    turns: list[list[Voice]] = []
    for cell, members in ordered_cells:
        order = sorted(members, key=lambda v: v.id)
        random.Random(seed_from("debias-voice-order", seed, cell)).shuffle(order)
        turns.append(order)
    used = [0] * n_cells
    assignments: list[Assignment] = []
    for index, item in enumerate(kept):
        for slot in range(voices_per_instruction):
            cell_index = (index * voices_per_instruction + slot) % n_cells
            members = turns[cell_index]
            voice = members[used[cell_index] % len(members)]
            used[cell_index] += 1
            assignments.append(Assignment(item, voice, "|".join(ordered_cells[cell_index][0])))
    return assignments, exclusions
