"""CLI commands for task inspection: tasks show."""

from __future__ import annotations

from typing import List, Optional

import typer

tasks_app = typer.Typer(help="Inspect tasks.", no_args_is_help=True)


@tasks_app.command("show")
def show(
    name: str = typer.Argument(..., help="Shipped task name, spec path or task kind."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Override a spec field: KEY=VALUE (YAML value); repeatable."),
    item: Optional[str] = typer.Option(None, "--item", help="Item id to render (default: the first)."),
    rotation: int = typer.Option(0, "--rotation", help="Option-order rotation to render."),
) -> None:
    """Print a task's counts, exclusions and one item rendered in each modality."""
    from biasbench.tasks.loading import load_task
    from biasbench.tasks.show import parse_assignments, preview

    task = load_task(name, parse_assignments(set_ or []))
    typer.echo(preview(task, item, rotation))


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.add_typer(tasks_app, name="tasks")
