"""CLI command: init (write a commented starter config)."""

from __future__ import annotations

from pathlib import Path

import typer


def init(
    folder: Path = typer.Argument(Path("."), help="Folder to write biasbench.yaml into (default: here)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing biasbench.yaml."),
) -> None:
    """Write a starter config with comments (runs offline as written)."""
    from biasbench.starter import write_starter

    path = write_starter(folder, force=force)
    typer.echo(f"wrote {path}; next: biasbench validate {path} && biasbench run {path}")


def register(app: typer.Typer) -> None:
    """Add init."""
    app.command()(init)
