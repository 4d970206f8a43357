"""`run --limit N`: a seeded, stratified subset of a task's items (a quick look, never a silent measurement change:
the limit is part of the run's output-affecting configuration)."""

from __future__ import annotations

import random
from typing import Sequence

from biasbench.core.hashing import seed_from
from biasbench.core.item import Item
from biasbench.tasks.base import Task


def limit_items(task: Task, items: Sequence[Item], limit: int | None, seed: int) -> list[Item]:
    """At most ``limit`` of ``items``, spread over the task's strata (``Task.item_group``: MMLU subjects,
    BBQ categories, ...): each stratum is shuffled with a seed of its own and strata take turns (in sorted
    order) until ``limit`` items are chosen. The chosen items keep their source order."""
    items = list(items)
    if limit is None or limit >= len(items):
        return items
    strata: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        strata.setdefault(task.item_group(item), []).append(index)
    queues = []
    for group in sorted(strata):
        indices = strata[group]
        random.Random(seed_from("limit", task.name, seed, group)).shuffle(indices)
        queues.append(indices)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit:
        for queue in queues:
            if depth < len(queue) and len(chosen) < limit:
                chosen.append(queue[depth])
        depth += 1
    return [items[index] for index in sorted(chosen)]
