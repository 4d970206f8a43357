"""Progress bars with ETA (rich), or nothing when disabled (tests, pipes)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Callable


class RunProgress:
    """``add(label, total)`` returns an ``advance(n, completed=None)`` callback."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Any = None

    def __enter__(self) -> "RunProgress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            )
            self._progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(kind, value, tb)
            self._progress = None

    def add(self, label: str, total: int) -> Callable[..., None]:
        if self._progress is None:
            return lambda n=0, completed=None: None
        task_id = self._progress.add_task(label, total=total)

        def advance(n: int = 0, completed: int | None = None) -> None:
            if completed is not None:
                self._progress.update(task_id, completed=completed)
            else:
                self._progress.advance(task_id, n)

        return advance
