"""The `biasbench` command. Thin: parse arguments, call the package, print.

Each area adds its commands in its own module here; :func:`main` turns every
:class:`~biasbench.core.errors.BiasbenchError` into one line on stderr and its exit code.
"""

from __future__ import annotations

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


_registered: list[bool] = []


def _register() -> None:
    """Add every area's commands (once)."""
    if _registered:
        return
    from biasbench.cli import debias, models, reports, runs, scores, tasks, voices

    for module in (runs, voices, tasks, models, scores, reports, debias):
        module.register(app)
    _registered.append(True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; expected failures print one line and exit non-zero."""
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except BiasbenchError as exc:
        typer.secho(f"error: {exc.one_line()}", err=True, fg="red")
        return exc.exit_code
    except KeyboardInterrupt:
        typer.secho("interrupted: finished rows are kept; run the same command again to resume", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return 2
        raise
    return 0


def run() -> None:
    sys.exit(main())
