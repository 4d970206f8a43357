"""Log a run summary to MLflow and/or Weights & Biases (each optional; lazy imports with install hints)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from biasbench.core.deps import require
from biasbench.core.errors import BiasbenchError
from biasbench.tracking.summary import RunSummary


class TrackingError(BiasbenchError):
    """A tracker refused or failed (its own message, on one line)."""

    exit_code = 1


@contextmanager
def _one_line(tracker: str) -> Iterator[None]:
    """The tracker's own exceptions as one-line errors (the run's files are never touched)."""
    try:
        yield
    except BiasbenchError:
        raise
    except Exception as exc:  # each tracker has its own exception family; report it, never a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TrackingError(f"{tracker}: {first}") from None


def log_to_mlflow(summary: RunSummary, *, tracking_uri: str | None = None, experiment: str = "biasbench") -> str:
    """One MLflow run per biasbench run: params, metrics, tables (``log_table``) and files; returns its run id.

    ``tracking_uri`` is any MLflow URI (a local folder such as ``file:///tmp/mlruns``, a server URL);
    None keeps MLflow's own default (MLFLOW_TRACKING_URI, else ./mlruns)."""
    mlflow = require("mlflow", "mlflow", purpose="logging runs to MLflow", package="mlflow-skinny")
    with _one_line("MLflow"):
        return _mlflow_run(mlflow, summary, tracking_uri, experiment)


def _mlflow_run(mlflow, summary: RunSummary, tracking_uri: str | None, experiment: str) -> str:
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=summary.run_id) as active:
        mlflow.set_tag("biasbench.run_id", summary.run_id)
        mlflow.log_params(summary.params)
        if summary.metrics:
            mlflow.log_metrics(summary.metrics)
        for name, table in summary.tables.items():
            mlflow.log_table(table, artifact_file=f"tables/{name}.json")
        for path in summary.files:
            mlflow.log_artifact(str(path), artifact_path="run" if path.parent.name != "scores" else "run/scores")
        return active.info.run_id


def log_to_wandb(summary: RunSummary, *, project: str, mode: str = "offline", directory: Path | None = None, entity: str | None = None) -> str:
    """One W&B run per biasbench run: config, summary metrics, tables and files as an artifact; returns
    the local run folder (offline mode: sync it later with `wandb sync`)."""
    wandb = require("wandb", "wandb", purpose="logging runs to Weights & Biases")
    with _one_line("Weights & Biases"):
        return _wandb_run(wandb, summary, project, mode, directory, entity)


def _wandb_run(wandb, summary: RunSummary, project: str, mode: str, directory: Path | None, entity: str | None) -> str:
    run = wandb.init(
        project=project, entity=entity, name=summary.run_id, mode=mode, config=summary.params,
        dir=str(directory) if directory is not None else None, reinit="finish_previous",
        settings=wandb.Settings(silent=True, console="off"),
    )
    try:
        run.summary.update(summary.metrics)
        run.log({name: wandb.Table(dataframe=table) for name, table in summary.tables.items()})
        artifact = wandb.Artifact(f"biasbench-{summary.run_id}", type="biasbench-run")
        for path in summary.files:
            artifact.add_file(str(path), name=f"scores/{path.name}" if path.parent.name == "scores" else path.name)
        run.log_artifact(artifact)
        folder = str(Path(run.dir).parent)
    finally:
        run.finish()
    return folder
