"""The `biasbench` command. Thin: parse arguments, call the package, print.

Each area adds its commands in its own module here; :func:`main` turns every
:class:`~biasbench.core.errors.BiasbenchError` into one line on stderr and its exit code.
"""

from __future__ import annotations

import errno
import importlib
import sys

import typer

from biasbench.core.errors import BiasbenchError

app = typer.Typer(
    name="biasbench",
    help="Measure whether speech language models treat speakers differently by gender and race.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR})
"""Filesystem faults the user can fix (disk full, read-only, a file where a folder belongs): one line, not a traceback."""

_registered: list[bool] = []


def _print_version(value: bool) -> None:
    if value:
        from biasbench import __version__

        typer.echo(f"biasbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Measure whether speech language models treat speakers differently by gender and race."""


def _command():
    """The click command behind ``app``, with boolean flags shown as flags in --help (typer would
    print a ``<bool>`` type beside ``--quiet`` as if it took a value)."""
    command = typer.main.get_command(app)
    stack = [command]
    while stack:
        current = stack.pop()
        for param in current.params:
            _flag_as_flag(param)
        current.get_help_option = _help_option_as_flag(current.get_help_option)
        stack.extend(getattr(current, "commands", {}).values())
    return command


def _flag_as_flag(param) -> None:
    if getattr(param, "is_flag", False) and param.metavar is None:
        param.metavar = ""


def _help_option_as_flag(make):
    def get_help_option(ctx):
        option = make(ctx)
        if option is not None:
            _flag_as_flag(option)
        return option

    return get_help_option


def _register() -> None:
    """Add every area's commands (once)."""
    if _registered:
        return
    from biasbench.cli import compare, debias, init, judge, models, reports, runs, scores, tasks, track, view, voices

    for module in (runs, voices, tasks, models, scores, reports, debias, judge, view, init, track, compare):
        module.register(app)
    _registered.append(True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; expected failures print one line and exit non-zero."""
    _register()
    try:
        code = _command()(args=argv, standalone_mode=False)  # click returns the code of typer.Exit here
    except BiasbenchError as exc:
        typer.secho(f"{exc.label}: {exc.one_line()}", err=True, fg="red")
        return exc.exit_code
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS:
            raise
        # a filesystem fault outside the durable writers (e.g. creating --out where a file is): one line too
        from biasbench.core.files import storage_error

        error = storage_error(exc.filename or "a file", exc, "write")
        typer.secho(f"error: {error.one_line()}", err=True, fg="red")
        return error.exit_code
    except KeyboardInterrupt:
        typer.secho("interrupted: finished rows are kept; run the same command again to resume", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except Exception as exc:
        if isinstance(exc, _usage_errors()):
            exc.show()
            return exc.exit_code
        raise
    return code if isinstance(code, int) else 0


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Click's usage-error classes: typer may bundle its own copy of click besides the installed one."""
    classes: list[type[BaseException]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            classes.append(importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(classes)


def run() -> None:
    sys.exit(main())
