"""Progress of a run: one bar per stage (synthesis, each model, audit, understanding, scoring, report) and an
overall bar whose total is all planned work and whose count starts at what earlier invocations finished.

Every change is also a :class:`ProgressEvent` for an optional listener (tests, trackers); bars are drawn
only when enabled (``-q`` and pipes turn them off), so the events do not depend on a terminal."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, Iterator

OVERALL = "overall"
"""The label of the overall bar (and of its events)."""


@dataclass(frozen=True)
class ProgressEvent:
    """One progress change."""

    stage: str
    """Bar label: 'overall', 'synthesis', 'model NAME', 'audit', 'scoring', ..."""
    completed: int
    """Units finished so far (on the overall bar, earlier invocations' work included)."""
    total: int
    """Units planned for this bar."""


Listener = Callable[[ProgressEvent], None]


class RunProgress:
    """``add(label, total)`` returns an ``advance(n, completed=None)`` callback; ``stage(label)`` wraps a
    step without counts; ``overall(total, completed)`` opens the overall bar every stage also advances."""

    def __init__(self, enabled: bool = True, *, listener: Listener | None = None, console: Any = None) -> None:
        self.enabled = enabled
        self.listener = listener
        self.console = console
        self._progress: Any = None
        self._overall_id: Any = None
        self._overall_total = 0
        self._overall_done = 0
        self._already: dict[str, int] = {}

    def __enter__(self) -> "RunProgress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
            )
            self._progress.__enter__()
            if self._overall_total:
                self._show_overall()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(kind, value, tb)
            self._progress = None

    def _emit(self, stage: str, completed: int, total: int) -> None:
        if self.listener is not None:
            self.listener(ProgressEvent(stage, completed, total))

    def _show_overall(self) -> None:
        if self._progress is None:
            return
        if self._overall_id is None:
            self._overall_id = self._progress.add_task(OVERALL, total=self._overall_total, completed=self._overall_done)
        else:
            self._progress.update(self._overall_id, total=self._overall_total, completed=self._overall_done)

    def overall(self, total: int, completed: int = 0, already: dict[str, int] | None = None) -> None:
        """Open (or resize) the overall bar: ``total`` planned units, ``completed`` already finished;
        ``already`` names the stages whose first units ``completed`` counts (synthesis reports its cached
        clips as done: those must not count twice)."""
        self._overall_total, self._overall_done = total, min(completed, total)
        self._already = dict(already or {})
        self._show_overall()
        self._emit(OVERALL, self._overall_done, self._overall_total)

    def _count(self, n: int) -> None:
        if n <= 0 or not self._overall_total:
            return
        self._overall_done = min(self._overall_done + n, self._overall_total)
        if self._progress is not None and self._overall_id is not None:
            self._progress.update(self._overall_id, completed=self._overall_done)
        self._emit(OVERALL, self._overall_done, self._overall_total)

    def add(self, label: str, total: int) -> Callable[..., None]:
        """A stage bar; its progress also advances the overall bar (beyond the units ``overall`` said it
        already counts for this label)."""
        task_id = self._progress.add_task(label, total=total) if self._progress is not None else None
        done = 0
        counted = self._already.get(label, 0)
        self._emit(label, 0, total)

        def advance(n: int = 0, completed: int | None = None) -> None:
            nonlocal done, counted
            done = completed if completed is not None else done + n
            if task_id is not None:
                self._progress.update(task_id, completed=done)
            self._emit(label, done, total)
            if done > counted:
                self._count(done - counted)
                counted = done

        return advance

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        """A step without its own counts (audit, scoring, report): one unit, finished when the block ends."""
        advance = self.add(label, 1)
        yield
        advance(1)

    def skip(self, units: int) -> None:
        """Count planned units that turned out not to be needed (a stage skipped because it is up to date)."""
        self._count(units)
