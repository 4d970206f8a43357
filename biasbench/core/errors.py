"""The error family. Every expected failure is a :class:`BiasbenchError` with a one-line message.

The CLI prints ``error: <message>`` and exits with :attr:`BiasbenchError.exit_code` (2 for bad
input); only unexpected bugs produce a traceback.
"""

from __future__ import annotations


class BiasbenchError(Exception):
    """An expected failure whose message tells the user what to do next."""

    exit_code: int = 2
    label: str = "error"
    """How the CLI prefixes the line ('error: ...')."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = " ".join(message.split())
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message and the hint on one line."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(BiasbenchError):
    """A configuration, pool spec or task spec is malformed or inconsistent."""


class SpecProblems(ConfigError):
    """A spec with several problems: the one-line message names the first few, ``problems`` has all."""

    shown = 3
    """Problems named in the one-line message."""

    def __init__(self, subject: str, problems: list[str], *, hint: str | None = None) -> None:
        self.problems = tuple(problems)
        listed = "; ".join(self.problems[: self.shown])
        more = len(self.problems) - self.shown
        tail = f"; … and {more} more" if more > 0 else ""
        super().__init__(f"{subject} has {len(self.problems)} problem(s): {listed}{tail}", hint=hint)


class UnknownNameError(ConfigError):
    """A registry lookup (adapter, TTS backend, task, pool) found no such name."""


class MissingExtraError(BiasbenchError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, *, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"the optional package '{package}' is needed{what} but is not installed",
            hint=f"pip install 'biasbench[{extra}]'",
        )
        self.package = package
        self.extra = extra


class OutdatedPackageError(BiasbenchError):
    """An optional dependency is installed but older than biasbench needs."""

    def __init__(self, package: str, installed: str, minimum: str, extra: str, *, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"the optional package '{package}' is version {installed}, but biasbench needs >= {minimum}{what}",
            hint=f"pip install -U '{package}>={minimum}' (or 'biasbench[{extra}]')",
        )
        self.package = package
        self.installed = installed
        self.minimum = minimum


class DataError(BiasbenchError):
    """Input data (audio, dataset files, corpus tables) is missing, unreadable or corrupt."""


class AdapterError(BiasbenchError):
    """A model adapter cannot continue (bad credentials, unreachable server, non-retryable API error)."""


class StorageError(BiasbenchError):
    """A file cannot be written or read back (disk full, read-only folder, a file where a folder should be)."""


class RunLockedError(BiasbenchError):
    """Another process is writing the same run directory."""


class BudgetExceededError(BiasbenchError):
    """The run's cost budget is spent; finished rows are kept and the run stops cleanly."""

    exit_code = 3


class RunIncompleteError(BiasbenchError):
    """A run ended with planned rows missing (requests failed after retries, or the circuit breaker
    stopped it); finished rows are kept and the same command resumes."""

    exit_code = 4


class RunFailedError(BiasbenchError):
    """A run could not answer a single row (the adapter's own error is the message)."""

    exit_code = 5


class RunInterruptedError(BiasbenchError):
    """Ctrl-C or SIGTERM: finished rows are kept and the same command resumes."""

    exit_code = 130
    label = "interrupted"
