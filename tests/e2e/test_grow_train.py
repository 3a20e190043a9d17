"""`grow-train` as a user runs it: the console script in a subprocess, real files, real signals."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import harmonic_tone

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def grow_train(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "grow-train"), *args, "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def checkpoint_step(run: Path) -> int:
    return int(torch.load(run / "checkpoint.pt", weights_only=True)["train_state"]["step"])


def wait_for_logged_step(run: Path, proc: subprocess.Popen, at_least: int, timeout: float) -> int:
    """Poll train.log until a checkpoint line at `at_least` steps or more appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "grow-train ended early"
        log = (run / "train.log").read_text() if (run / "train.log").exists() else ""
        steps = [int(s) for s in re.findall(r"^\S+ \S+ step (\d+):", log, re.M)]
        if steps and steps[-1] >= at_least:
            return steps[-1]
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint at step >= {at_least} within {timeout} s")


def no_temporaries(run: Path) -> bool:
    return not [p for p in run.glob(".*") if ".tmp-" in p.name]


def test_example_end_to_end(tmp_path: Path, feature_cache_env: dict[str, str]) -> None:
    run = tmp_path / "run"
    done = grow_train(
        "--example",
        "--out",
        str(run),
        "--steps",
        "40",
        "--checkpoint-every",
        "20",
        env=feature_cache_env,
    )
    assert done.returncode == 0, done.stderr
    for name in (
        "config.json",
        "checkpoint.pt",
        "metrics.json",
        "presets.json",
        "train.log",
        "loss_curve.png",
        "spectrogram.png",
        "val_reconstruction.wav",
        "val_harmonic.wav",
        "val_noise.wav",
        "val_target.wav",
    ):
        assert (run / name).stat().st_size > 0, name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 40 and metrics["stopped_by"] == "steps"
    for key in ("spectral_distance", "loudness_l1_db", "f0_l1_cents", "f0_outlier_ratio"):
        assert np.isfinite(metrics["validation"][key]), key
    recon, sr = sf.read(run / "val_reconstruction.wav")
    target, _ = sf.read(run / "val_target.wav")
    assert sr == 24000 and recon.shape == target.shape and np.abs(recon).max() > 1e-3
    presets = json.loads((run / "presets.json").read_text())
    assert list(presets) == ["flute"] and len(presets["flute"]) == 16
    assert checkpoint_step(run) == 40
    assert no_temporaries(run)

    again = grow_train("--example", "--out", str(run), "--steps", "40", env=feature_cache_env)
    assert again.returncode == 2
    assert "already holds a run; pass --resume" in again.stderr


def test_resume_after_kill_9(tmp_path: Path, feature_cache_env: dict[str, str]) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            str(BIN / "grow-train"),
            "--example",
            "--out",
            str(run),
            "--steps",
            "100000",
            "--checkpoint-every",
            "5",
            "--quiet",
        ],
        env=feature_cache_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_logged_step(run, proc, 10, timeout=240)
    finally:
        proc.kill()  # SIGKILL: no handler runs
        proc.wait()
    saved = checkpoint_step(run)
    assert saved >= 10 and saved % 5 == 0
    done = grow_train(
        "--out", str(run), "--resume", "--steps", str(saved + 5), env=feature_cache_env
    )
    assert done.returncode == 0, done.stderr
    assert f"resumed from step {saved}" in done.stderr
    assert json.loads((run / "metrics.json").read_text())["steps"] == saved + 5
    assert checkpoint_step(run) == saved + 5
    assert no_temporaries(run)


def test_sigint_saves_a_checkpoint_and_exits_130(
    tmp_path: Path, feature_cache_env: dict[str, str]
) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            str(BIN / "grow-train"),
            "--example",
            "--out",
            str(run),
            "--steps",
            "100000",
            "--checkpoint-every",
            "5",
            "--quiet",
        ],
        env=feature_cache_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_logged_step(run, proc, 5, timeout=240)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    found = re.search(r"stopped by signal at step (\d+)", stderr)
    assert found is not None, stderr
    stopped = int(found.group(1))
    assert checkpoint_step(run) == stopped >= 5
    assert "Traceback" not in stderr


@pytest.mark.skipif(shutil.which("torchrun", path=str(BIN)) is None, reason="torchrun missing")
def test_torchrun_ddp_on_two_cpu_processes(
    tmp_path: Path, feature_cache_env: dict[str, str]
) -> None:
    run = tmp_path / "run"
    done = subprocess.run(
        [
            str(BIN / "torchrun"),
            "--standalone",
            "--nproc-per-node",
            "2",
            str(BIN / "grow-train"),
            "--example",
            "--out",
            str(run),
            "--steps",
            "6",
            "--checkpoint-every",
            "3",
            "--quiet",
            "--device",
            "cpu",
        ],
        env=feature_cache_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["audio_seconds_trained"] == 6 * 8 * 1.0 * 2  # steps x batch x s x ranks
    assert "world size 2" in (run / "train.log").read_text()
    assert checkpoint_step(run) == 6


def write_bad_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    """Each bad input and the words its error must contain."""
    folder.mkdir()
    good = harmonic_tone(330.0, 2.0, sample_rate=48000)
    sf.write(folder / "whole.wav", good, 48000)
    data = (folder / "whole.wav").read_bytes()
    (folder / "cut.wav").write_bytes(data[: len(data) // 3])
    (folder / "text.wav").write_text("definitely not a RIFF file\n" * 10)
    sf.write(folder / "silent.wav", np.zeros(48000, np.float32), 48000)
    sf.write(folder / "short.wav", good[:24000], 48000)  # 0.5 s < one 1 s segment
    (folder / "empty_dir").mkdir()
    (folder / "empty_dir" / "notes.txt").write_text("no audio here")
    return {
        "truncated": (folder / "cut.wav", "cut.wav: truncated WAV file"),
        "text": (folder / "text.wav", "text.wav: cannot read as audio"),
        "silent": (folder / "silent.wav", "silent.wav: audio is silent"),
        "short": (folder / "short.wav", "short: too short"),
        "no-audio-folder": (folder / "empty_dir", "empty_dir: folder holds no audio files"),
        "missing": (folder / "missing.wav", "missing.wav: no such file or folder"),
    }


@pytest.mark.parametrize(
    "case", ["truncated", "text", "silent", "short", "no-audio-folder", "missing"]
)
def test_bad_input_gives_a_clear_error_and_leaves_nothing(
    tmp_path: Path, feature_cache_env: dict[str, str], case: str
) -> None:
    path, words = write_bad_inputs(tmp_path / "inputs")[case]
    run = tmp_path / "run"
    done = grow_train(str(path), "--out", str(run), "--steps", "2", env=feature_cache_env)
    assert done.returncode == 2
    assert words in done.stderr
    assert done.stderr.startswith("grow-train: error: ")
    assert "Traceback" not in done.stderr
    leftovers = {p.name for p in run.iterdir()} if run.exists() else set()
    assert leftovers <= {"train.log"}, leftovers


def test_clipped_stereo_44k_trains_with_a_warning(
    tmp_path: Path, feature_cache_env: dict[str, str]
) -> None:
    tone = np.clip(4 * harmonic_tone(300.0, 2.5, sample_rate=44100), -1, 1)
    path = tmp_path / "hot.wav"
    sf.write(path, np.stack([tone, tone], axis=1), 44100)
    run = tmp_path / "run"
    done = grow_train(str(path), "--out", str(run), "--steps", "2", env=feature_cache_env)
    assert done.returncode == 0, done.stderr
    assert "hot.wav" in done.stderr and "clipped" in done.stderr
    assert "clipped" in (run / "train.log").read_text()


def test_bad_options_are_named(tmp_path: Path, feature_cache_env: dict[str, str]) -> None:
    done = grow_train(
        "--example", "--out", str(tmp_path / "r"), "--fft-sizes", "1000,512", env=feature_cache_env
    )
    assert done.returncode == 2
    assert "fft_sizes=[1000, 512] must be powers of two" in done.stderr
    done = grow_train(
        "--example", "--out", str(tmp_path / "r2"), "--minutes", "-1", env=feature_cache_env
    )
    assert done.returncode == 2 and "--minutes=-1.0 must be positive" in done.stderr
