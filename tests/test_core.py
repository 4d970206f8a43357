"""First tests of core/: registry errors, the response key (it guards the cache), deps, YAML reading."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from biasbench.core import registry
from biasbench.core.deps import require, version_tuple
from biasbench.core.errors import ConfigError, MissingExtraError, OutdatedPackageError, UnknownNameError
from biasbench.core.messages import AudioPart, GenerationParams, Message, Request, TextPart
from biasbench.core.registry import Registry, import_target
from biasbench.core.yamlio import load_yaml_text, read_yaml

# --- registry -------------------------------------------------------------------------------


def test_unknown_names_suggest_the_closest_one() -> None:
    with pytest.raises(UnknownNameError) as caught:
        registry.adapters.get("simulatd")
    assert caught.value.one_line() == "unknown adapter 'simulatd'; did you mean 'simulated'? (`biasbench ls adapters` lists them)"
    with pytest.raises(UnknownNameError, match="did you mean 'espeak'"):
        registry.tts_backends.entry("espek")
    with pytest.raises(UnknownNameError) as far:
        registry.tasks.entry("zzzzzz")
    assert "did you mean" not in far.value.one_line()


def test_bad_targets_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match="not of the form"):
        import_target("no_colon_here")
    with pytest.raises(ConfigError, match="cannot import 'biasbench.nope'"):
        import_target("biasbench.nope:X")
    with pytest.raises(ConfigError, match="has no attribute 'Nope'"):
        import_target("biasbench.core.errors:Nope")


def test_loaded_classes_are_checked_against_the_kind_base_class() -> None:
    from biasbench.adapters.base import Adapter

    assert issubclass(registry.adapters.get("simulated"), Adapter)
    with registry.adapters.registered("not-an-adapter", "biasbench.core.errors:ConfigError"):
        with pytest.raises(ConfigError) as caught:
            registry.adapters.get("not-an-adapter")
    assert caught.value.one_line() == (
        "adapter 'not-an-adapter' (biasbench.core.errors:ConfigError, from runtime) is class ConfigError, "
        "not a subclass of biasbench.adapters.base.Adapter"
    )
    assert "not-an-adapter" not in registry.adapters.names()


def test_a_plugin_entry_point_that_is_not_an_adapter_gives_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint(name="bogus", value="json:dumps", group="biasbench.adapters")
    monkeypatch.setattr("biasbench.core.registry.entry_points", lambda group: [point] if group == "biasbench.adapters" else [])
    fresh: Registry = Registry("adapter", "biasbench.adapters.catalog", "biasbench.adapters", "adapters", "biasbench.adapters.base:Adapter")
    assert "bogus" in fresh.names()
    with pytest.raises(ConfigError, match=r"adapter 'bogus' \(json:dumps, from entry point\) is a function, not a subclass"):
        fresh.get("bogus")


def test_registered_restores_a_replaced_entry() -> None:
    before = registry.adapters.entry("simulated")
    with registry.adapters.registered("simulated", "biasbench.core.errors:ConfigError"):
        assert registry.adapters.entry("simulated").target == "biasbench.core.errors:ConfigError"
    assert registry.adapters.entry("simulated") == before


# --- the response key -------------------------------------------------------------------------


def _request(path: str = "/somewhere/clip.wav", **params) -> Request:
    audio = AudioPart(path, "ab" * 32, 16000, 1.5)
    settings = {"max_new_tokens": 16, "temperature": 0.0, "top_p": 1.0, "seed": 3, **params}
    return Request(
        (Message("system", (TextPart("Be brief."),)), Message("user", (audio, TextPart("Which option? A) x B) y")))),
        GenerationParams(**settings),
        repeat=1,
    )


def test_request_key_is_stable_across_versions() -> None:
    """A changed key silently re-asks every cached answer: this hash must only change on purpose."""
    assert _request().key("fp0123") == "10baee24bac784e1d4e282a21f2e6a60b7d41d24ce770c27e68f310a06c6d011"


def test_request_key_ignores_the_audio_path_but_not_content_or_settings() -> None:
    key = _request().key("fp0123")
    assert _request(path="/elsewhere/copy.wav").key("fp0123") == key  # the audio's bytes (sha256) count, not where it lies
    assert _request(seed=4).key("fp0123") != key
    assert _request(temperature=0.7).key("fp0123") != key
    assert _request().key("fp9999") != key


def test_generation_params_json_holds_every_field() -> None:
    """to_json is written out field by field (asdict's deep copy cost 20 us per request): a new field must join it."""
    from dataclasses import asdict

    params = GenerationParams(max_new_tokens=9, temperature=0.5, top_p=0.9, seed=3)
    assert params.to_json() == asdict(params)


# --- optional dependencies --------------------------------------------------------------------


def test_require_names_the_extra_and_the_minimum_version() -> None:
    with pytest.raises(MissingExtraError) as missing:
        require("surely_not_installed_pkg", "tts", purpose="testing")
    assert "biasbench[tts]" in missing.value.one_line()
    assert require("yaml", "core", package="PyYAML", min_version="3.0").__name__ == "yaml"
    with pytest.raises(OutdatedPackageError) as old:
        require("yaml", "core", package="PyYAML", min_version="999.1")
    assert "needs >= 999.1" in old.value.one_line() and "PyYAML>=999.1" in old.value.one_line()


def test_version_tuple_compares_releases() -> None:
    assert version_tuple("2.10.0") > version_tuple("2.9")
    assert version_tuple("2.1.0rc1") == version_tuple("2.1") == (2, 1)
    assert version_tuple("1.0.0") == version_tuple("1")


# --- YAML -------------------------------------------------------------------------------------


def test_a_duplicate_yaml_key_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("name: a\nseed: 1\ntasks: [demo_mc]\nseed: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_yaml(path, "config")
    assert caught.value.one_line() == f"config {path} is not valid YAML at line 4, column 1: duplicate key 'seed' (first at line 2)"


def test_nested_duplicates_are_caught_and_merge_overrides_allowed() -> None:
    with pytest.raises(Exception, match="duplicate key 'temperature'"):
        load_yaml_text("models:\n  - name: m\n    params: {temperature: 0.1, temperature: 0.2}\n")
    assert load_yaml_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 5\n")["d"] == {"x": 5, "y": 2}
