"""Adapters see only what a model would: no target, correct option, demographic labels or voice id.

A plug-in adapter that tries to read the request context gets nothing; only an adapter declaring
``Capabilities(oracle=True)`` receives it, and such an adapter is labelled a calibration instrument.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Sequence

import pytest
import yaml

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.adapters.simulated import SimulatedAdapter
from biasbench.cli import main
from biasbench.core import registry
from biasbench.core.messages import Request
from biasbench.core.response import Response

SEEN: dict[str, list[Request]] = {"spy": [], "oracle_spy": [], "hearing_spy": []}


class SpyAdapter(Adapter):
    """A user's plug-in that tries to read the answer and the speaker from the request."""

    name = "spy"
    capabilities: ClassVar[Capabilities] = Capabilities(answer_types=frozenset({"multiple_choice"}))

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        SEEN[self.name].extend(requests)
        answers = []
        for request in requests:
            context = getattr(request, "context", None)
            target = getattr(context, "target_index", None)
            answers.append(Response(text=chr(ord("A") + target) if target is not None else "A"))
        return answers


class OracleSpyAdapter(SpyAdapter):
    """A planted plug-in that declares it needs the oracle."""

    name = "oracle_spy"
    capabilities: ClassVar[Capabilities] = Capabilities(answer_types=frozenset({"multiple_choice"}), oracle=True)


class HearingSpyAdapter(SpyAdapter):
    """An ordinary plug-in that can also transcribe: the understanding step asks it for transcripts."""

    name = "hearing_spy"
    capabilities: ClassVar[Capabilities] = Capabilities(answer_types=frozenset({"multiple_choice", "transcription"}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    registry.adapters.register("spy", f"{__name__}:SpyAdapter")
    registry.adapters.register("oracle_spy", f"{__name__}:OracleSpyAdapter")
    registry.adapters.register("hearing_spy", f"{__name__}:HearingSpyAdapter")
    tmp = tmp_path_factory.mktemp("isolation")
    config = {
        "name": "isolation", "pool": "demo_espeak", "tasks": ["demo_mc"],
        "models": [{"name": "spy", "adapter": "spy"}, {"name": "oracle", "adapter": "oracle_spy"},
                   {"name": "hearing", "adapter": "hearing_spy"}],
        "modalities": ["audio", "text"], "seed": 0, "report": False,
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp / "run"


def test_an_ordinary_plugin_reads_no_target_labels_or_voice(runs):
    manifest = json.loads((runs / "manifest.json").read_text())
    requests = SEEN["spy"]
    assert requests and any(r.audio_parts() for r in requests)
    assert all(r.context is None for r in requests)
    voices = manifest["voices_used"]
    labels = {label["value"] for entry in manifest["pool"]["voices"] for label in entry["labels"].values()}
    assert voices and labels
    for request in requests:
        dumped = json.dumps([m.key_json() for m in request.messages]) + json.dumps([p.path for p in request.audio_parts()])
        assert not any(voice in dumped for voice in voices), "a voice id leaked into the request"
        assert not any(f'"{value}"' in dumped for value in labels)
    # the spy could only guess "A": its accuracy is chance-like, not perfect
    import pandas as pd

    results = pd.read_parquet(runs / "results.parquet")
    spy = results[results["model"] == "spy"]
    assert (spy["outcome"] == "correct").mean() < 0.6
    assert manifest["models"][0]["capabilities"]["calibration"] is False


def test_an_oracle_plugin_gets_the_context_and_is_labelled_calibration(runs):
    requests = SEEN["oracle_spy"]
    assert requests and all(r.context is not None and r.context.target_index is not None for r in requests)
    assert any(r.context.voice_id and r.context.labels for r in requests)
    manifest = json.loads((runs / "manifest.json").read_text())
    oracle = next(m for m in manifest["models"] if m["name"] == "oracle")
    assert oracle["capabilities"]["oracle"] is True and oracle["capabilities"]["calibration"] is True
    import pandas as pd

    results = pd.read_parquet(runs / "results.parquet")
    assert (results[results["model"] == "oracle"]["outcome"] == "correct").all()


def test_oracle_capability_implies_calibration_and_simulated_declares_it():
    assert Capabilities(oracle=True).calibration
    assert not Capabilities().calibration and not Capabilities().oracle
    assert SimulatedAdapter.capabilities.oracle and SimulatedAdapter.capabilities.calibration



class LongWindowAdapter(SpyAdapter):
    """Declares a 60-second audio window."""

    name = "long_window"
    capabilities: ClassVar[Capabilities] = Capabilities(answer_types=frozenset({"multiple_choice"}), max_audio_seconds=60.0)


class MidWindowAdapter(SpyAdapter):
    """Declares a 45-second audio window."""

    name = "mid_window"
    capabilities: ClassVar[Capabilities] = Capabilities(answer_types=frozenset({"multiple_choice"}), max_audio_seconds=45.0)


@pytest.mark.parametrize(
    "adapters, task_params, expected",
    [
        (["long_window"], {}, 60.0),
        (["long_window", "mid_window"], {}, 45.0),  # the shortest window of the run's audio models
        (["long_window", "spy"], {}, 30.0),  # a model without a declared window keeps the task's limit
        (["long_window"], {"max_audio_seconds": 20}, 20.0),  # the run config's explicit setting wins
    ],
)
def test_task_audio_limit_follows_the_models_declared_window(tmp_path, adapters, task_params, expected) -> None:
    from biasbench.config import RunConfig
    from biasbench.runner.plan import load_plan

    for name, cls in (("long_window", "LongWindowAdapter"), ("mid_window", "MidWindowAdapter"), ("spy", "SpyAdapter")):
        registry.adapters.register(name, f"{__name__}:{cls}")
    config = RunConfig.model_validate({
        "name": "window", "pool": "demo_espeak", "tasks": [{"name": "demo_mc", "params": task_params}],
        "models": [{"name": f"m{i}", "adapter": a} for i, a in enumerate(adapters)], "modalities": ["audio"],
    })
    plan = load_plan(config, tmp_path)
    assert plan.tasks[0].config.max_audio_seconds == expected


def test_the_understanding_steps_transcribe_requests_carry_no_context(runs):
    """The per-clip transcribe requests (issue 15) reach an ordinary adapter like every other request."""
    from biasbench.runner.understanding import TRANSCRIBE_INSTRUCTION

    requests = SEEN["hearing_spy"]
    transcribe = [r for r in requests if TRANSCRIBE_INSTRUCTION in json.dumps([m.key_json() for m in r.messages])]
    assert transcribe and len(transcribe) < len(requests)
    assert all(r.context is None for r in requests)
