"""Durable writes: unique temp names, atomic renames, one-line errors for filesystem faults."""

from __future__ import annotations

import errno
import multiprocessing
import threading
from pathlib import Path

import numpy as np
import pytest

from biasbench.core.audio import Audio, read_audio, write_wav
from biasbench.core.errors import StorageError
from biasbench.core.files import atomic_write, ensure_folder, write_text_atomic
from biasbench.core.jsonio import read_json_object, write_json_object
from biasbench.voices.cache import AudioCache


def _tone(seed: int) -> Audio:
    rng = np.random.default_rng(seed)
    return Audio((0.1 * rng.standard_normal(1600)).astype(np.float32), 16_000)


def _hammer_cache(root: str, seed: int, rounds: int) -> None:
    cache = AudioCache(Path(root))
    for _ in range(rounds):
        cache.put("ab" + "0" * 62, _tone(seed))
        cache.get("ab" + "0" * 62)


def test_two_processes_writing_one_cache_key_never_crash(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer_cache, args=(str(tmp_path), seed, 40)) for seed in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    key = "ab" + "0" * 62
    leftovers = [p.name for p in (tmp_path / "audio" / "ab").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    part = AudioCache(tmp_path).get(key)
    # the last writer of each file wins: either a consistent clip or (clip and sidecar from
    # different writers) a miss that makes the caller synthesize again, never a wrong clip
    if part is not None:
        audio, _ = read_audio(part.path)
        assert any(np.allclose(audio.samples, _tone(seed).samples, atol=1e-4) for seed in (1, 2))


def test_threads_writing_one_path_never_collide(tmp_path: Path) -> None:
    target = tmp_path / "same.json"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(50):
                write_json_object(target, {"writer": n, "i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert read_json_object(target)["i"] == 49
    assert [p.name for p in tmp_path.iterdir()] == ["same.json"]


def test_write_wav_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.wav"
    write_wav(path, _tone(3))
    audio, _ = read_audio(path)
    assert np.allclose(audio.samples, _tone(3).samples, atol=1e-4)
    assert [p.name for p in path.parent.iterdir()] == ["b.wav"]


def test_failed_write_keeps_old_content_and_removes_temp(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    write_text_atomic(path, "old\n")

    def full(tmp: Path) -> None:
        tmp.write_text("half", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StorageError) as caught:
        atomic_write(path, full)
    assert caught.value.one_line().startswith(f"cannot write {path}: the disk is full")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_read_only_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("biasbench.core.files.tempfile.mkstemp", read_only)
    with pytest.raises(StorageError, match="read-only"):
        write_text_atomic(tmp_path / "x.txt", "x")


def test_a_file_where_a_folder_belongs_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("i am a file", encoding="utf-8")
    with pytest.raises(StorageError, match="is a file, not a folder"):
        ensure_folder(tmp_path / "out")
    with pytest.raises(StorageError, match="is a file, not a folder|parent path is a file"):
        write_wav(tmp_path / "out" / "clip.wav", _tone(1))
