"""The step plan of a finetune: stages × curriculum datasets × epochs → micro-batches → optimizer steps.

The plan is a pure function of the config, the datasets and the seed, so a resumed run rebuilds it
and continues at the step after its checkpoint.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Mapping, Sequence

from biasbench.core.hashing import seed_from
from biasbench.debias.train_config import DebiasTrainConfig


@dataclass(frozen=True)
class MicroBatch:
    """Rows of one dataset processed in one forward pass."""

    dataset: str
    """Curriculum dataset name."""
    rows: tuple[int, ...]
    """Row indices in that dataset (whole instructions: all their voices together)."""


@dataclass(frozen=True)
class Step:
    """One optimizer step."""

    index: int
    """Global step number, from 1."""
    stage: int
    """Index of the stage in the config."""
    micro_batches: tuple[MicroBatch, ...]
    """Accumulated before the update."""


def plan_steps(config: DebiasTrainConfig, instruction_ids: Mapping[str, Sequence[str]]) -> list[Step]:
    """Every optimizer step of the run. ``instruction_ids[name][row]`` is the instruction of a row;
    rows of one instruction stay in one micro-batch (the consistency loss compares them)."""
    training = config.training
    groups_per_batch = max(1, training.batch_size // config.data.voices_per_instruction)
    steps: list[Step] = []
    for stage_index, stage in enumerate(config.stages):
        micro: list[MicroBatch] = []
        for name in stage.datasets:
            groups: dict[str, list[int]] = {}
            for row, instruction in enumerate(instruction_ids[name]):
                groups.setdefault(instruction, []).append(row)
            order = sorted(groups)
            for epoch in range(stage.epochs):
                shuffled = list(order)
                random.Random(seed_from("debias-batches", training.seed, stage.name, name, epoch)).shuffle(shuffled)
                for start in range(0, len(shuffled), groups_per_batch):
                    rows = tuple(row for key in shuffled[start : start + groups_per_batch] for row in groups[key])
                    micro.append(MicroBatch(name, rows))
        stage_steps = [micro[i : i + training.grad_accum] for i in range(0, len(micro), training.grad_accum)]
        if stage.max_steps is not None:
            stage_steps = stage_steps[: stage.max_steps]
        for chunk in stage_steps:
            steps.append(Step(len(steps) + 1, stage_index, tuple(chunk)))
    return steps
