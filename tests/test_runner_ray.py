"""The Ray executor on a local Ray instance (2 CPUs, started once for the module): the tiny Qwen2-Audio built at
test time answers the same rows identically as local actors and in this process; the driver alone writes the
log; a resume asks nothing; an actor that dies fails only its batches; synthesis as Ray tasks writes the
same clips; an unreachable address is one line and exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.config import ExecutorConfig, parse_config
from biasbench.core.deps import is_available
from biasbench.core.errors import AdapterError, ConfigError
from biasbench.core.response import Response

ray = pytest.importorskip("ray", reason="needs ray for the Ray executor: pip install 'biasbench[ray]'")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_available("espeakng_loader"), reason="needs espeak clips: pip install 'biasbench[tts]'"),
    pytest.mark.skipif(not is_available("torch") or not is_available("transformers"), reason="needs biasbench[hf] (torch, transformers)"),
]

REPO = Path(__file__).resolve().parents[1]
POOL = """\
description: four espeak voices (test pool)
purpose: demonstration
axes: [gender]
values: {gender: [female, male]}
min_per_cell: 2
max_per_cell: 2
engine: espeak
label_source: designed
corpus: espeak-ng presets
license: GPL-3.0-or-later
voices:
  - {id: f1, preset: en-us+f3, labels: {gender: female}}
  - {id: f2, preset: en-us+f4, labels: {gender: female}}
  - {id: m1, preset: en-us+m3, labels: {gender: male}}
  - {id: m2, preset: en-us+m4, labels: {gender: male}}
"""
TASK = """\
kind: multiple_choice
version: "1"
description: three test questions
path: items.jsonl
columns: {id: id, question: question, choices: choices, answer: answer}
answer_format: index
rendering: full
instruction: "Answer with the letter of the correct option ({letters}) only."
modalities: [audio, text]
rotations: 1
"""
ITEMS = (
    '{"id": "q1", "question": "What is the capital of France?", "choices": ["Berlin", "Paris", "Madrid", "Rome"], "answer": 1}\n'
    '{"id": "q2", "question": "How many legs does a spider have?", "choices": ["Six", "Four", "Eight", "Ten"], "answer": 2}\n'
    '{"id": "q3", "question": "Which is a fruit?", "choices": ["Apple", "Chair", "River", "Stone"], "answer": 0}\n'
)
ROWS = 3 * (4 + 1)  # items x (voices + the text control)
COMPARED = ["model", "task", "item_id", "voice_id", "modality", "permutation", "repeat",
            "response_key", "response", "parsed", "outcome", "score"]


@pytest.fixture(scope="module")
def ray_instance():
    """A local Ray instance started by the run's own session (as `biasbench run --executor ray` starts one), with
    2 CPUs; it must keep the SIGTERM handler the CLI installs (SIGTERM ends a run like Ctrl-C)."""
    from biasbench.runner.ray_cluster import executor_session, joined_ray

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    original = signal.signal(signal.SIGTERM, on_sigterm)
    facts: dict = {}
    try:
        began = time.perf_counter()
        with executor_session(ExecutorConfig(kind="ray"), num_cpus=2, object_store_memory=100 * 1024 * 1024):
            assert not ray.is_initialized()  # joined on first use, not by the session itself
            joined_ray()  # what the first run's first synthesis or actor does
            print(f"\nray start-up: {time.perf_counter() - began:.1f} s")
            facts.update(started=ray.is_initialized(), sigterm_kept=signal.getsignal(signal.SIGTERM) is on_sigterm)
            yield ray, facts
        assert not ray.is_initialized(), "the session that started Ray must shut it down"  # checked at module end
    finally:
        signal.signal(signal.SIGTERM, original)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from biasbench.testing.tiny_models import build_tiny_qwen2_audio

    root = tmp_path_factory.mktemp("ray")
    (root / "pool.yaml").write_text(POOL)
    (root / "task.yaml").write_text(TASK)
    (root / "items.jsonl").write_text(ITEMS)
    build_tiny_qwen2_audio(root / "tiny-qwen2-audio", seed=0)
    return root


def config_for(folder: Path, cache: str, models: list[dict] | None = None, **extra):
    models = models or [{"name": "tiny", "adapter": "qwen2-audio", "params": {"model": str(folder / "tiny-qwen2-audio")}}]
    return parse_config({
        "pool": "pool.yaml", "tasks": ["task.yaml"], "models": models, "modalities": ["audio", "text"], "seed": 0,
        "report": False, "understanding": {"enabled": False}, "batch_size": 2, "tts_workers": 1,
        "generation": {"max_new_tokens": 3}, "cache_dir": str(folder / cache), **extra,
    })


def run(config, out: Path, lines: list[str] | None = None):
    from biasbench.pipeline import run_experiment

    return run_experiment(config, out, out.parent, show_progress=False, echo=(lines.append if lines is not None else lambda _: None))


class Spy:
    """Records, in this (the driver's) process, which process appended log lines and how many, what the Ray
    executor returned, and clips the driver itself stored."""

    def __init__(self) -> None:
        self.appends: list[tuple[int, int]] = []
        self.works: list = []
        self.driver_puts = 0

    def install(self, patch: pytest.MonkeyPatch) -> None:
        from biasbench.runner import run as runner
        from biasbench.runner.store import ResponseLog
        from biasbench.voices.cache import AudioCache

        append, execute, put = ResponseLog.append, runner.execute_on_ray, AudioCache.put

        def spy_append(log, entries):
            entries = list(entries)
            self.appends.append((os.getpid(), len(entries)))
            return append(log, entries)

        def spy_execute(*args, **kwargs):
            work = execute(*args, **kwargs)
            self.works.append(work)
            return work

        def spy_put(cache, key, audio):
            self.driver_puts += 1
            return put(cache, key, audio)

        patch.setattr(ResponseLog, "append", spy_append)
        patch.setattr(runner, "execute_on_ray", spy_execute)
        patch.setattr(AudioCache, "put", spy_put)


@pytest.fixture(scope="module")
def runs(ray_instance, folder):
    """The same config run with the local executor and under Ray (each with its own clip cache, so the Ray run
    synthesizes through Ray tasks)."""
    began = time.perf_counter()
    local = run(config_for(folder, "cache-local"), folder / "local")
    local_s = time.perf_counter() - began
    spy, lines = Spy(), []
    with pytest.MonkeyPatch.context() as patch:
        spy.install(patch)
        began = time.perf_counter()
        on_ray = run(config_for(folder, "cache-ray", executor={"kind": "ray"}), folder / "ray", lines)
        ray_s = time.perf_counter() - began
    print(f"\nwall time: local executor {local_s:.1f} s, Ray executor {ray_s:.1f} s (tiny model, {ROWS} rows, incl. synthesis and scoring)")
    return local, on_ray, spy, lines


def tidy(outcome) -> pd.DataFrame:
    frame = pd.read_parquet(outcome.run_dir / "results.parquet")
    return frame[COMPARED].sort_values(COMPARED[:7]).reset_index(drop=True)


def test_ray_executor_gives_the_local_executors_answers(runs):
    local, on_ray, spy, lines = runs
    assert local.status == on_ray.status == "complete"
    assert local.stats.model_calls == on_ray.stats.model_calls == ROWS
    local_rows, ray_rows = tidy(local), tidy(on_ray)
    assert len(local_rows) == ROWS and local_rows["response"].str.len().gt(0).all()
    pd.testing.assert_frame_equal(local_rows, ray_rows)  # same keys (same clips), answers, parses and outcomes


def test_both_actors_worked_and_only_the_driver_wrote_the_log(runs):
    _, on_ray, spy, lines = runs
    (work,) = spy.works
    assert work.shape.count == 2 and all(n > 0 for n in work.batches) and sum(work.batches) == -(-ROWS // 2)
    assert os.getpid() not in work.pids and len(set(work.pids)) == 2  # the model ran in two other processes
    assert {pid for pid, _ in spy.appends} == {os.getpid()}
    logged = (on_ray.run_dir / "responses.jsonl").read_text().splitlines()
    assert len(logged) == sum(n for _, n in spy.appends) == ROWS  # every line came through the driver's append
    assert any(line.startswith("ray: model 'tiny' on 2 actor(s)") for line in lines)


def test_synthesis_as_ray_tasks_writes_the_same_clips(runs, folder):
    local, on_ray, spy, _ = runs
    assert on_ray.stats.tts_calls == local.stats.tts_calls == 3 * 4
    assert spy.driver_puts == 0  # the Ray tasks stored every clip, the driver only opened them
    local_files = sorted((folder / "cache-local" / "audio").rglob("*.flac"))
    ray_files = sorted((folder / "cache-ray" / "audio").rglob("*.flac"))
    assert [p.name for p in local_files] == [p.name for p in ray_files] and len(local_files) == 12  # same cache keys
    for a, b in zip(local_files, ray_files):
        assert a.read_bytes() == b.read_bytes()
        assert json.loads(a.with_suffix(".json").read_text())["sha256"] == json.loads(b.with_suffix(".json").read_text())["sha256"]


def test_resume_under_ray_asks_nothing_and_the_executor_is_not_output_identity(runs, folder):
    from biasbench.core.rundir import RunDir

    from biasbench.runner import ray_cluster

    _, on_ray, _, _ = runs
    joins: list[int] = []
    real_join = ray_cluster._Session.join
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray_cluster._Session, "join", lambda session: (joins.append(1), real_join(session))[1])
        again = run(config_for(folder, "cache-ray", executor={"kind": "ray"}), folder / "ray")
    assert joins == []  # nothing to synthesize or ask: the run never needed the cluster
    assert again.status == "complete" and again.stats.model_calls == 0 and again.stats.tts_calls == 0
    assert again.stats.rows_from_log == ROWS
    manifest = RunDir(folder / "ray").manifest()
    assert manifest.executor["kind"] == "ray" and manifest.executor["cluster"]["CPU"] == 2
    local_dir_under_ray = run(config_for(folder, "cache-local", executor={"kind": "ray"}), folder / "local")  # not refused
    assert local_dir_under_ray.stats.model_calls == 0 and local_dir_under_ray.status == "complete"


class DyingAdapter(Adapter):
    """Answers 'A'; the first actor to reach its second batch kills its own process (once: a marker file)."""

    name = "dying-test"
    capabilities = Capabilities(batch=True)

    class Config(Adapter.Config):
        marker: str

    def generate(self, requests):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 2:
            try:
                os.close(os.open(self.config.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return [Response(text="A") for _ in requests]


def test_an_actor_that_dies_fails_its_batches_and_the_next_invocation_asks_them(runs, folder):
    import ray.cloudpickle

    from biasbench.core import registry

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    model = [{"name": "dying", "adapter": "dying-test", "params": {"marker": str(folder / "died")}}]
    config = config_for(folder, "cache-local", model, batch_size=1, executor={"kind": "ray"})
    with registry.adapters.registered("dying-test", f"{__name__}:DyingAdapter"):
        first = run(config, folder / "dying")
        failed = pd.read_parquet(folder / "dying" / "results.parquet").query("outcome == 'error'")
        assert first.status == "incomplete" and first.exit_code == 4
        assert 1 <= len(failed) <= 2 and failed["error"].str.startswith("Ray actor died").all()  # its batches in flight only
        second = run(config, folder / "dying")
    assert second.status == "complete" and second.stats.model_calls == len(failed)


class UnloadableAdapter(Adapter):
    """Cannot load its model (as a missing checkpoint): the error happens on the Ray worker."""

    name = "unloadable-test"
    capabilities = Capabilities(batch=True)

    def load(self):
        raise AdapterError("cannot load model 'nowhere' (no such checkpoint)", hint="check params.model")


def test_a_model_that_cannot_load_on_the_actors_is_one_line(runs, folder):
    import ray.cloudpickle

    from biasbench.core import registry

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    config = config_for(folder, "cache-local", [{"name": "broken", "adapter": "unloadable-test"}], executor={"kind": "ray"})
    with registry.adapters.registered("unloadable-test", f"{__name__}:UnloadableAdapter"):
        outcome = run(config, folder / "unloadable")
    assert outcome.status == "failed" and outcome.exit_code == 2 and outcome.stats.model_calls == 0
    assert outcome.stop.one_line() == "cannot load model 'nowhere' (no such checkpoint) (check params.model)"


def test_the_session_that_started_ray_kept_the_runs_sigterm_handler(ray_instance):
    _, facts = ray_instance
    assert facts["started"] and facts["sigterm_kept"]  # ray.init's own handler (a bare exit) was undone


def test_unreachable_address_is_one_line_and_exit_2(folder, tmp_path):
    config = folder / "ray-bad.yaml"
    config.write_text(
        "pool: pool.yaml\ntasks: [task.yaml]\nmodalities: [text]\nexecutor: {address: 'ray://127.0.0.1:1'}\n"
        "models:\n  - {name: tiny, adapter: qwen2-audio, params: {model: tiny-qwen2-audio}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "biasbench", "run", str(config), "--executor", "ray", "--out", str(tmp_path / "out"), "-q"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "cannot reach the Ray cluster at ray://127.0.0.1:1" in done.stderr


@pytest.mark.parametrize(
    "executor, message",
    [({"kind": "dask"}, "executor.kind"), ({"kind": "ray", "actor": 2}, "executor.actor"), ({"actors": 0}, "executor.actors"),
     ({"address": "nohost"}, "executor.address")],
)
def test_bad_executor_settings_are_one_line_config_errors(folder, executor, message):
    with pytest.raises(ConfigError) as caught:
        config_for(folder, "unused", executor=executor)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_requests_travel_with_absolute_clip_paths_and_the_same_key(tmp_path, monkeypatch):
    from biasbench.core.messages import AudioPart
    from biasbench.runner.ray_executor import shipped
    from biasbench.testing.requests import make_request

    monkeypatch.chdir(tmp_path)
    request = make_request("Answer.", AudioPart("audio/ab/clip.flac", "0" * 64, 16000, 1.0))
    sent = shipped(request)
    assert sent.audio_parts()[0].path == str(tmp_path / "audio/ab/clip.flac") and sent.key("f") == request.key("f")
    assert shipped(sent) is sent


def test_actor_shape_defaults_and_limits():
    from biasbench.runner.ray_cluster import actor_shape

    shape = actor_shape(ExecutorConfig(kind="ray"), {"CPU": 32, "GPU": 4})
    assert (shape.count, shape.num_gpus, shape.num_cpus) == (4, 1, 1)
    assert actor_shape(ExecutorConfig(kind="ray", num_gpus=2), {"CPU": 32, "GPU": 4}).count == 2
    assert (actor_shape(ExecutorConfig(kind="ray"), {"CPU": 2}).count, actor_shape(ExecutorConfig(kind="ray"), {"CPU": 1}).count) == (2, 1)
    with pytest.raises(ConfigError, match="asks for 3 actor"):
        actor_shape(ExecutorConfig(kind="ray", actors=3), {"CPU": 2})
