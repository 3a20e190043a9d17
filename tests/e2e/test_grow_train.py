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

DDSP_OUTPUTS = (
    "config.json checkpoint.pt metrics.json presets.json train.log loss_curve.png "
    "spectrogram.png val_reconstruction.wav val_harmonic.wav val_noise.wav val_target.wav"
)
NCA_OUTPUTS = (
    "nca.pt nca_metrics.json growth_heatmap.png growth_continuous.wav "
    "growth_preview_nca.wav growth_preview_linear.wav growth_preview_exponential.wav "
    "growth_preview_fibonacci.wav"
)


def command(*args: str, quiet: bool = True) -> list[str]:
    return [str(BIN / "grow-train"), *args, *(["--quiet"] if quiet else [])]


def grow_train(
    *args: str, env: dict[str, str], timeout: float = 300, quiet: bool = True
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(*args, quiet=quiet), env=env, capture_output=True, text=True, timeout=timeout
    )


def checkpoint_step(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["train_state"]["step"])


def wait_for_logged_step(
    run: Path, proc: subprocess.Popen, at_least: int, *, timeout: float, prefix: str = ""
) -> int:
    """Poll train.log until a checkpoint line at `at_least` steps or more appears."""
    deadline = time.monotonic() + timeout
    pattern = re.compile(rf"^\S+ \S+ {prefix}step (\d+):", re.M)
    while time.monotonic() < deadline:
        assert proc.poll() is None, "grow-train ended early"
        log = (run / "train.log").read_text() if (run / "train.log").exists() else ""
        steps = [int(s) for s in pattern.findall(log)]
        if steps and steps[-1] >= at_least:
            return steps[-1]
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint at {prefix}step >= {at_least} within {timeout} s")


def no_temporaries(run: Path) -> bool:
    return not [p for p in run.glob(".*") if ".tmp-" in p.name]


def test_example_end_to_end(tmp_path: Path, feature_cache_env: dict[str, str]) -> None:
    run = tmp_path / "run"
    args = ("--example", "--out", str(run), "--steps", "40", "--nca-steps", "30")
    done = grow_train(*args, "--checkpoint-every", "20", env=feature_cache_env, quiet=False)
    assert done.returncode == 0, done.stderr
    # Not a terminal: plain lines, no carriage-return bars, no raw None; the end says what next.
    for text in (done.stderr, (run / "train.log").read_text()):
        assert "\r" not in text and not re.search(r"\bNone\b", text)
    assert f"next: grow-export {run} --out model.onnx" in done.stderr
    assert "features: file 1 of 1" in done.stderr and "ddsp: step 40 of 40" in done.stderr
    assert "level: the output plays at the loudness input" in done.stderr
    for name in (DDSP_OUTPUTS + " " + NCA_OUTPUTS).split():
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
    assert checkpoint_step(run / "checkpoint.pt") == 40
    nca = json.loads((run / "nca_metrics.json").read_text())
    assert nca["steps"] == 30 == checkpoint_step(run / "nca.pt")
    for key in (
        "distance_seed",
        "distance_grown",
        "distance_regrown",
        "order_correlation",
        "centroid_monotonic_fraction",
        "steps_to_10pct",
    ):
        assert key in nca, key
    preview, sr = sf.read(run / "growth_preview_nca.wav")
    assert sr == 24000 and abs(preview.shape[0] - 32 * 0.7 * 24000) < 32 * 240
    assert no_temporaries(run)

    again = grow_train(*args, env=feature_cache_env)
    assert again.returncode == 2
    assert "already holds a run; pass --resume" in again.stderr


def kill_9_and_resume(
    run: Path,
    env: dict[str, str],
    *,
    phase_args: tuple[str, ...],
    prefix: str,
    checkpoint: str,
    budget_option: str,
    resume_args: tuple[str, ...] = (),
) -> None:
    proc = subprocess.Popen(
        command("--example", "--out", str(run), "--checkpoint-every", "5", *phase_args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_logged_step(run, proc, 10, timeout=300, prefix=prefix)
    finally:
        proc.kill()  # SIGKILL: no handler runs
        proc.wait()
    saved = checkpoint_step(run / checkpoint)
    assert saved >= 10 and saved % 5 == 0
    done = grow_train(
        "--out", str(run), "--resume", budget_option, str(saved + 5), *resume_args, env=env
    )
    assert done.returncode == 0, done.stderr
    assert f"{prefix}resumed from step {saved}" in done.stderr
    assert checkpoint_step(run / checkpoint) == saved + 5
    assert no_temporaries(run)


def test_ddsp_phase_resumes_after_kill_9(tmp_path: Path, feature_cache_env: dict[str, str]) -> None:
    run = tmp_path / "run"
    kill_9_and_resume(
        run,
        feature_cache_env,
        phase_args=("--steps", "100000", "--phase", "ddsp"),
        prefix="",
        checkpoint="checkpoint.pt",
        budget_option="--steps",
        resume_args=("--phase", "ddsp"),
    )
    assert json.loads((run / "metrics.json").read_text())["steps"] >= 15


def test_nca_phase_resumes_after_kill_9(tmp_path: Path, feature_cache_env: dict[str, str]) -> None:
    run = tmp_path / "run"
    kill_9_and_resume(
        run,
        feature_cache_env,
        phase_args=("--steps", "5", "--nca-steps", "100000"),
        prefix="nca: ",
        checkpoint="nca.pt",
        budget_option="--nca-steps",
    )
    nca = json.loads((run / "nca_metrics.json").read_text())
    assert nca["steps"] == checkpoint_step(run / "nca.pt")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stop_signal_saves_a_checkpoint_and_exits_130(
    tmp_path: Path, feature_cache_env: dict[str, str], signum: int
) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen(
        command("--example", "--out", str(run), "--steps", "100000", "--checkpoint-every", "5"),
        env=feature_cache_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_logged_step(run, proc, 5, timeout=240)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    found = re.search(r"stopped by signal at step (\d+)", stderr)
    assert found is not None, stderr
    assert checkpoint_step(run / "checkpoint.pt") == int(found.group(1)) >= 5
    assert "Traceback" not in stderr
    assert not (run / "nca.pt").exists()  # the NCA phase did not start


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
            *command(
                "--example",
                "--out",
                str(run),
                "--steps",
                "6",
                "--checkpoint-every",
                "3",
                "--device",
                "cpu",
                "--nca-steps",
                "3",
            ),
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
    assert checkpoint_step(run / "checkpoint.pt") == 6
    assert checkpoint_step(run / "nca.pt") == 3  # rank 0 trained the NCA alone


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
        "short": (folder / "short.wav", "short.wav: too short"),
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
    assert not run.exists()  # no empty run directory left behind


def test_clipped_stereo_44k_trains_with_a_warning(
    tmp_path: Path, feature_cache_env: dict[str, str]
) -> None:
    tone = np.clip(4 * harmonic_tone(300.0, 2.5, sample_rate=44100), -1, 1)
    path = tmp_path / "hot.wav"
    sf.write(path, np.stack([tone, tone], axis=1), 44100)
    run = tmp_path / "run"
    done = grow_train(
        str(path), "--out", str(run), "--steps", "2", "--phase", "ddsp", env=feature_cache_env
    )
    assert done.returncode == 0, done.stderr
    assert "hot.wav" in done.stderr and "clipped" in done.stderr
    assert "clipped" in (run / "train.log").read_text()


def test_bad_options_are_named(tmp_path: Path, feature_cache_env: dict[str, str]) -> None:
    cases = [
        (("--fft-sizes", "1000,512"), "--fft-sizes [1000, 512] must be powers of two"),
        (("--minutes", "-1"), "--minutes -1.0 must be positive"),
        (("--grow-steps", "64,32"), "--grow-steps 64,32 must be MIN,MAX with 1 <= MIN <= MAX"),
        (("--grow-steps", "40"), "--grow-steps 40 must be MIN,MAX"),
        (("--nca-steps", "-1"), "--nca-steps -1 must be at least 1"),
        (("--seed", "-1"), "--seed -1 must be in 0.."),
        (("--log-weight", "-1"), "--log-weight -1.0 must be at least 0"),
        (("--time-l1", "-0.5"), "--time-l1 -0.5 must be at least 0"),
        (("--f0-min", "900", "--f0-max", "100"), "--f0-min 900.0 and --f0-max 100.0 must give"),
        (("--fire-rate", "2"), "--fire-rate 2.0 must be in (0, 1]"),
        (("--val-fraction", "0.7"), "--val-fraction 0.7 must be in [0, 0.5)"),
        (("--lr", "-1"), "--lr -1.0 must be positive"),
        (("--harmonics", "0"), "--harmonics 0 must be at least 1"),
    ]
    for i, (option, message) in enumerate(cases):
        done = grow_train(
            "--example",
            "--out",
            str(tmp_path / f"r{i}"),
            "--steps",
            "1",
            "--nca-steps",
            "1",
            *option,
            env=feature_cache_env,
        )
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / f"r{i}").exists()  # refused before anything was written


def test_resume_without_a_run_says_so(tmp_path: Path, feature_cache_env: dict[str, str]) -> None:
    run = tmp_path / "nothing"
    done = grow_train("--out", str(run), "--resume", env=feature_cache_env)
    assert done.returncode == 2, done.stderr
    assert f"--resume: {run} holds no run to continue (no config.json)" in done.stderr
    assert not run.exists()


def test_unpitched_audio_trains_with_a_warning(
    tmp_path: Path, feature_cache_env: dict[str, str]
) -> None:
    path = tmp_path / "noise.wav"
    sf.write(path, 0.3 * np.random.default_rng(0).uniform(-1, 1, 3 * 24000), 24000)
    run = tmp_path / "run"
    done = grow_train(
        str(path), "--out", str(run), "--steps", "1", "--phase", "ddsp", env=feature_cache_env
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"noise\.wav: only \d+ % of it is pitched", done.stderr), done.stderr
    assert "of it is pitched" in (run / "train.log").read_text()


def test_a_missing_parent_folder_is_refused_never_made(
    tmp_path: Path, feature_cache_env: dict[str, str]
) -> None:
    run = tmp_path / "no" / "such" / "run"
    done = grow_train("--example", "--out", str(run), "--steps", "1", env=feature_cache_env)
    assert done.returncode == 2, done.stderr
    assert f"--out {run}: folder {run.parent} does not exist" in done.stderr
    assert not (tmp_path / "no").exists()


def test_nca_phase_without_a_ddsp_checkpoint_is_refused(
    tmp_path: Path, feature_cache_env: dict[str, str]
) -> None:
    done = grow_train(
        "--example", "--out", str(tmp_path / "r"), "--phase", "nca", env=feature_cache_env
    )
    assert done.returncode == 2
    assert "no DDSP checkpoint; run --phase ddsp (or all) first" in done.stderr


def test_a_budget_spent_on_features_says_so_and_resumes(
    tmp_path: Path, feature_cache_env: dict[str, str]
) -> None:
    """A long recording with a short --minutes: the features take the whole budget. No
    traceback; the message says how to go on, and that works (from the step-0 checkpoint)."""
    run = tmp_path / "run"
    done = grow_train("--example", "--out", str(run), "--minutes", "0.0001", env=feature_cache_env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "--minutes 0.0001 ran out before the first training step" in done.stderr
    assert f"grow-train --out {run} --resume --minutes M" in done.stderr
    again = grow_train(
        "--out", str(run), "--resume", "--phase", "ddsp", "--steps", "3", env=feature_cache_env
    )
    assert again.returncode == 0, again.stderr
    assert checkpoint_step(run / "checkpoint.pt") == 3


TEXTURE_OUTPUTS = (
    "texture.pt texture_metrics.json texture_growth.png texture_loss_curve.png "
    "texture_target.wav texture_ddsp.wav texture_held.wav "
    + " ".join(f"texture_step_{s:03d}.wav" for s in (0, 8, 16, 32, 64, 96))
)


def test_texture_phase_end_to_end(tmp_path: Path, feature_cache_env: dict[str, str]) -> None:
    """--phase texture on a trained run: its files and metrics, its settings stored, and resume
    (nothing to do; then more steps)."""
    run = tmp_path / "run"
    env = feature_cache_env
    first = grow_train("--example", "--out", str(run), "--steps", "2", "--phase", "ddsp", env=env)
    assert first.returncode == 0, first.stderr
    args = ("--out", str(run), "--resume", "--phase", "texture", "--texture-seconds", "0.4")
    done = grow_train(*args, "--texture-steps", "2", env=env, quiet=False)
    assert done.returncode == 0, done.stderr
    assert re.search(r"texture: \d+ parameters; a 0\.4 s loop of 10 x \d+ cells", done.stderr)
    assert "texture: distance_texture " in done.stderr and "distance_ratio" in done.stderr
    assert f"next: grow-export {run} --out model.onnx" in done.stderr
    for name in TEXTURE_OUTPUTS.split():
        assert (run / name).stat().st_size > 0, name
    metrics = json.loads((run / "texture_metrics.json").read_text())
    assert metrics["steps"] == 2 == checkpoint_step(run / "texture.pt")
    assert metrics["distance_ratio"] == pytest.approx(
        metrics["distance_texture"] / metrics["distance_ddsp"]
    )
    for key in ("distance_regrown", "distance_damaged", "seam_level_step_db", "steps_to_regrow"):
        assert key in metrics, key
    assert len(metrics["distance_curve"]) == 97
    stored = json.loads((run / "config.json").read_text())
    assert stored["texture"]["frames"] == 10 and stored["texture"]["frame_stride"] == 4
    texture = stored["texture"]
    assert 1 <= texture["harmonic_cells"] <= 64 and texture["noise_cells"] == 16
    assert stored["texture_stretch"]["frames"] == 40
    held, sr = sf.read(run / "texture_held.wav")
    step, _ = sf.read(run / "texture_step_096.wav")
    assert sr == 24000 and held.shape[0] == 3 * 40 * 240 and step.shape[0] == 40 * 240
    assert no_temporaries(run)

    again = grow_train(*args, "--texture-steps", "2", env=env)
    assert again.returncode == 0, again.stderr
    assert checkpoint_step(run / "texture.pt") == 2
    more = grow_train(*args, "--texture-steps", "3", env=env)
    assert more.returncode == 0, more.stderr
    assert "texture: resumed from step 2" in more.stderr
    assert json.loads((run / "texture_metrics.json").read_text())["steps"] == 3


def test_texture_settings_are_checked_before_anything_is_written(
    tmp_path: Path, feature_cache_env: dict[str, str]
) -> None:
    run = tmp_path / "r"
    short = grow_train(
        "--example", "--out", str(run), "--phase", "texture", "--texture-seconds", "0.05",
        env=feature_cache_env,
    )  # fmt: skip
    assert short.returncode == 2
    assert "--texture-seconds 0.05 makes a loop of 1 texture frames" in short.stderr
    assert not run.exists()
    untrained = grow_train(
        "--example", "--out", str(run), "--phase", "texture", env=feature_cache_env
    )
    assert untrained.returncode == 2
    assert "no DDSP checkpoint; run --phase ddsp (or all) first" in untrained.stderr
