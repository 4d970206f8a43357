"""`biasbench run --dry-run`: what a run would do (rows, clips, calls, time, cost), with nothing written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from biasbench.config import RunConfig
from biasbench.core.errors import BiasbenchError
from biasbench.core.rundir import RunDir
from biasbench.runner.cost_estimate import ModelCostEstimate, estimate_run
from biasbench.runner.work import PlannedWork

ASSUMED_SECONDS_PER_CLIP = 0.2
"""Time per synthesized clip assumed before a run in this directory has measured its own rate."""
ASSUMED_SECONDS_PER_CALL = 0.2
"""Time per model request assumed before a run in this directory has measured its own rate."""


@dataclass(frozen=True)
class DryRun:
    """A run's plan and what is left of it in its run directory."""

    run_dir: Path
    """The run directory the run would use."""
    exists: bool
    """Whether it exists already (a resume)."""
    tasks: tuple[str, ...]
    """Task names."""
    limit: int | None
    """Items per task (None: all)."""
    work: PlannedWork
    """Rows, clips and calls, with what is already done."""
    costs: tuple[ModelCostEstimate, ...]
    """Upper-bound cost per model for all its planned requests."""
    seconds: float
    """Estimated wall time of the remaining work."""
    timing_basis: str
    """Where ``seconds`` comes from (a measured rate or the stated assumption)."""
    refusal: str
    """Why the run would refuse this directory ('' when it would run)."""

    @property
    def usd_remaining(self) -> float:
        """Upper-bound cost of the requests not yet answered."""
        calls = {m.model: m for m in self.work.models}
        return sum(c.usd * (calls[c.model].remaining / calls[c.model].calls) for c in self.costs if calls[c.model].calls)


def dry_run(config: RunConfig, base_dir: Path, run_dir: Path) -> DryRun:
    """Plan ``config`` against ``run_dir`` and count what remains; reads only."""
    from biasbench.runner.plan import load_plan
    from biasbench.runner.run import check_same_configuration, output_identity
    from biasbench.runner.work import count_work

    plan = load_plan(config, base_dir)
    run = RunDir(run_dir)
    exists = run.path.exists()
    work = count_work(config, plan, run.path)
    refusal = ""
    previous = run.read_manifest() if run.manifest_path.exists() else None
    try:
        check_same_configuration(run, previous, output_identity(config, plan))
    except BiasbenchError as exc:
        refusal = exc.one_line()
    seconds, basis = _estimate_seconds(work, previous)
    return DryRun(run.path, exists, tuple(t.name for t in plan.tasks), config.limit, work, tuple(estimate_run(config, base_dir)), seconds, basis, refusal)


def _estimate_seconds(work: PlannedWork, previous: object) -> tuple[float, str]:
    remaining_clips = work.clips - work.clips_cached
    remaining_calls = sum(m.remaining for m in work.models)
    measured = [inv for inv in getattr(previous, "invocations", []) if inv.wall_s and (inv.tts_calls + inv.model_calls) > 0]
    if measured:
        units = sum(inv.tts_calls + inv.model_calls for inv in measured)
        rate = sum(inv.wall_s for inv in measured) / units
        return rate * (remaining_clips + remaining_calls), f"measured {rate:.3f} s per clip or call in earlier invocations"
    seconds = remaining_clips * ASSUMED_SECONDS_PER_CLIP + remaining_calls * ASSUMED_SECONDS_PER_CALL
    return seconds, (
        f"rough: assumes {ASSUMED_SECONDS_PER_CLIP} s per clip and {ASSUMED_SECONDS_PER_CALL} s per call, plus model "
        "loading, audit and report; a first run in this directory measures the real rate"
    )


def format_dry_run(plan: DryRun) -> list[str]:
    """The lines `run --dry-run` prints."""
    work = plan.work
    where = f"{plan.run_dir} exists: resuming it" if plan.exists else f"{plan.run_dir} does not exist yet"
    limit = f", at most {plan.limit} item(s) per task" if plan.limit else ""
    lines = [
        f"dry run: nothing is written ({where})",
        f"plan: {work.rows} rows — {len(plan.tasks)} task(s) ({', '.join(plan.tasks)}) × {len(work.models)} model(s){limit}",
        f"clips to synthesize: {work.clips - work.clips_cached} of {work.clips} ({work.clips_cached} already cached)",
        "calls per model:",
    ]
    width = max((len(m.model) for m in work.models), default=0)
    costs = {c.model: c for c in plan.costs}
    for m in work.models:
        cost = costs.get(m.model)
        usd = f", ≤ ${cost.usd:.2f} for all {cost.requests} planned rows" if cost is not None else ""
        lines.append(f"  {m.model:<{width}}  {m.remaining} to call of {m.calls} ({m.answered} already answered){usd}")
    lines.append(f"estimated time: ~{plan.seconds:.0f} s ({plan.timing_basis})")
    lines.append(f"estimated cost: ≤ ${plan.usd_remaining:.2f} for the remaining calls (upper bound: every answer uses max_new_tokens)")
    if plan.refusal:
        lines.append(f"would refuse: {plan.refusal}")
    return lines
