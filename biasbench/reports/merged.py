"""Runs merged for a leaderboard (its own module: the leaderboard, its page and its plots all read it)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from biasbench.reports.qualifiers import Qualifier
from biasbench.reports.rundata import RunData


@dataclass(frozen=True)
class MergedRuns:
    """Runs that may be compared, with their headline rows."""

    runs: tuple[RunData, ...]
    """The runs, in the order given."""
    table: pd.DataFrame
    """One row per model × task: Headline columns + run, manifest link, ranks."""
    groups: pd.DataFrame
    """Per model × task × group headline metric on the headline grouping (for the group bars)."""
    qualifiers: tuple[tuple[str, Qualifier], ...]
    """(run id, warning) for every warning of every run."""
