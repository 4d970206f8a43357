"""CLI command: view (browse a run's answers in a local web page)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def view(
    run_dir: Path = typer.Argument(..., help="Run directory (holds results.parquet and manifest.json)."),
    port: int = typer.Option(8765, "--port", "-p", help="Port on 127.0.0.1 (0: any free port)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (default: this machine only)."),
    base_dir: Optional[Path] = typer.Option(None, "--base-dir", help="Folder the run's pool and task specs resolve from."),
) -> None:
    """Browse every answer: filters, audio players, and one item across all voices (Ctrl-C stops)."""
    from biasbench.viewer.data import load_viewer_data
    from biasbench.viewer.server import make_server

    data = load_viewer_data(run_dir, base_dir)
    for note in data.notes:
        typer.secho(f"note: {note}", fg="yellow")
    server = make_server(data, host, port)
    typer.echo(f"biasbench view: http://{host}:{server.server_address[1]}/  ({data.meta['n_rows']} rows, {data.meta['n_clips']} clips; Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C is how a viewer ends, not an interrupted run
        typer.echo("viewer stopped")
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    """Add view."""
    app.command()(view)
