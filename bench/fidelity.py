"""Fidelity where the user listens: the trainer's figures beside the engine's, per phrase.

For each evaluation phrase (NAME_train.wav / NAME_test.wav from bench/eval_phrases.py, plus the
bundled flute split 80/20) it trains a model on the train part (`grow-train --minutes M`, reused
when the run exists), exports it, and scores the held-out part:

- trainer: the run's own validation distance (metrics.json) and the trainer's reconstruction of
  the held-out audio (torch, z from its MFCCs);
- engine: `grow-render --input` with default flags at 24 kHz (the training rate) and at 44.1, 48
  and 96 kHz, resampled to the training rate and scored the same way;
- at 48 kHz: the energy above the training Nyquist (dB of the whole), the loudest 50 ms of the
  output where the input has been silent for 120 ms (dBFS), pitch following (f0 outliers, the
  output's voiced fraction over the input's) and loudness L1.

With --transfer, the demo model also plays every held-out phrase (timbre transfer, most of them
outside its trained range) at 48 and 96 kHz: pitch following, silence and spectral balance
(energy above 2.5 kHz against below 1 kHz, dB) beside the flute recording it learned from.

    python -m bench.eval_phrases --out /tmp/phrases
    python -m bench.fidelity --phrases /tmp/phrases --runs /tmp/fidelity-runs --minutes 4 --transfer
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from core.audio import load_audio
from core.features import FeatureConfig, Features, compute_features
from export.onnx_export import load_run
from realtime import render_cli
from trainer.crepe_f0 import track_f0_crepe
from trainer.example import example_audio_path
from trainer.metrics import reconstruction_metrics
from trainer.report import resynthesize
from trainer.run_dir import RunDir

BIN = Path(sys.executable).parent
RATES = (24000, 44100, 48000, 96000)
SILENT_DB = -80.0  # input loudness counted as silence
SETTLE_S = 0.12  # the output must be silent this long after the input falls silent


def prepare_flute(folder: Path) -> None:
    """The bundled example split as the evaluation phrases are: first 80 % / last 20 %."""
    audio, rate = sf.read(example_audio_path(), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    cut = int(0.8 * mono.shape[0])
    sf.write(folder / "flute-example_train.wav", mono[:cut], rate, subtype="FLOAT")
    sf.write(folder / "flute-example_test.wav", mono[cut:], rate, subtype="FLOAT")


def add_phrase_options(parser: argparse.ArgumentParser) -> None:
    """The options every phrase bench shares: where the phrases and runs are, the budget."""
    parser.add_argument("--phrases", type=Path, required=True, help="from bench/eval_phrases.py")
    parser.add_argument("--runs", type=Path, required=True, help="run directories (reused)")
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget per model")
    parser.add_argument("--only", help="comma-separated phrase names")
    parser.add_argument("--json", type=Path, help="also write the rows here")


def phrase_names(folder: Path, only: str | None) -> list[str]:
    """The evaluation phrases in `folder` (NAME_train.wav and NAME_test.wav), the bundled flute
    added; only those named in `only` (comma-separated) when given."""
    prepare_flute(folder)
    names = sorted(p.name[: -len("_train.wav")] for p in folder.glob("*_train.wav"))
    return [n for n in names if n in only.split(",")] if only else names


def train_and_export(train_wav: Path, run: Path, minutes: float) -> Path:
    model = run / "model.onnx"
    if model.is_file():
        return model
    train = [str(BIN / "grow-train"), str(train_wav), "--out", str(run), "--quiet"]
    for cmd in (
        [*train, "--minutes", str(minutes)],
        [str(BIN / "grow-export"), str(run), "--out", str(model)],
    ):
        done = subprocess.run(cmd, text=True, capture_output=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return model


def render(model: Path, source: Path, rate: int, *flags: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out.wav"
        args = ["--model", str(model), "--input", str(source), "--out", str(out)]
        code = render_cli.main([*args, "--samplerate", str(rate), "--format", "float", *flags])
        if code != 0:
            raise SystemExit(f"grow-render failed on {source}")
        audio, _ = sf.read(out, dtype="float32")
    return audio


def at_rate(audio: np.ndarray, rate: int, target: int, n: int) -> np.ndarray:
    if rate != target:
        audio = librosa.resample(audio, orig_sr=rate, target_sr=target)
    out = np.zeros(n, np.float32)
    out[: min(n, audio.shape[0])] = audio[:n]
    return out


def energy_above(audio: np.ndarray, rate: int, hz: float) -> float:
    """dB of the whole signal's energy that lies above `hz`."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[0], 1.0 / rate)
    return float(10 * np.log10(max(power[freqs > hz].sum(), 1e-20) / max(power.sum(), 1e-20)))


def balance_db(audio: np.ndarray, rate: int) -> float:
    """Energy above 2.5 kHz against energy below 1 kHz, dB (the whistle statistic)."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[0], 1.0 / rate)
    high, low = power[freqs > 2500].sum(), power[freqs < 1000].sum()
    return float(10 * np.log10(max(high, 1e-20) / max(low, 1e-20)))


def silence_level(output: np.ndarray, rate: int, features: Features, frame_rate: float) -> float:
    """Loudest 50 ms RMS (dBFS) of the output inside stretches where the input has been silent
    (<= SILENT_DB) for SETTLE_S and stays silent to a frame after the window's end (the synth
    interpolates its controls towards the next frame, so a note's onset starts to sound in the
    frame before it); NaN if none."""
    silent = features.loudness_db <= SILENT_DB
    settle, span = round(SETTLE_S * frame_rate), max(1, round(0.05 * frame_rate))
    window = round(0.05 * rate)
    worst, found = -200.0, False
    for t in range(settle, silent.size - span):
        if silent[t - settle : t + span + 1].all():
            found = True
            start = round(t / frame_rate * rate)
            chunk = output[start : start + window].astype(np.float64)
            rms = float(np.sqrt(np.mean(chunk**2))) if chunk.size else 0.0
            worst = max(worst, 20 * np.log10(max(rms, 1e-10)))
    return worst if found else float("nan")


def pitch_following(output: np.ndarray, features: Features, config: FeatureConfig) -> dict:
    """The trainer's metrics of `output` against the input, plus the output's voiced frames
    over the input's (the same tracker run once)."""
    metrics = reconstruction_metrics(output, features, config)
    voiced_in = max(metrics["voiced_frames"], 1e-9)
    return {**metrics, "voiced_ratio": metrics["voiced_frames_pred"] / voiced_in}


def score_phrase(name: str, model: Path, run: Path, test_wav: Path) -> dict:
    ddsp, _, config = load_run(RunDir(run))
    fc = FeatureConfig(**config["features"])
    sr = fc.sample_rate
    audio = load_audio(test_wav, sample_rate=sr)
    features = compute_features(audio, fc, crepe=track_f0_crepe)
    n = features.audio.shape[0]
    trainer_val = json.loads((run / "metrics.json").read_text())["validation"]
    trainer_test = reconstruction_metrics(
        resynthesize(ddsp, features).audio[0].numpy(), features, fc
    )
    row: dict = {
        "phrase": name,
        "trainer_val": trainer_val["spectral_distance"],
        "trainer_test": trainer_test["spectral_distance"],
    }
    for rate in RATES:
        played = render(model, test_wav, rate)
        scored = at_rate(played, rate, sr, n)
        if rate == 48000:
            follow = pitch_following(scored, features, fc)
            row.update(
                engine_48=follow["spectral_distance"],
                loudness_l1=follow["loudness_l1_db"],
                f0_l1=follow["f0_l1_cents"],
                outliers=follow["f0_outlier_ratio"],
                voiced_ratio=follow["voiced_ratio"],
                above_nyquist_db=energy_above(played, rate, sr / 2),
                silence_dbfs=silence_level(played, rate, features, fc.frame_rate),
            )
        else:
            row[f"engine_{rate // 1000}"] = reconstruction_metrics(scored, features, fc)[
                "spectral_distance"
            ]
    return row


def score_transfer(name: str, test_wav: Path, reference_balance: float) -> list[dict]:
    from realtime.model import load_model

    demo = render_cli.demo_model_path()
    meta = load_model(demo).meta
    fc = FeatureConfig(**meta.features)
    audio = load_audio(test_wav, sample_rate=fc.sample_rate)
    features = compute_features(audio, fc, crepe=track_f0_crepe)
    rows = []
    for rate in (48000, 96000):
        played = render(demo, test_wav, rate)
        scored = at_rate(played, rate, fc.sample_rate, features.audio.shape[0])
        follow = pitch_following(scored, features, fc)
        rows.append(
            {
                "phrase": name,
                "rate": rate,
                "input_f0_median": float(np.median(features.f0_hz[features.voiced]))
                if features.voiced.any()
                else float("nan"),
                "outliers": follow["f0_outlier_ratio"],
                "voiced_ratio": follow["voiced_ratio"],
                "silence_dbfs": silence_level(played, rate, features, fc.frame_rate),
                "balance_db": balance_db(played, rate),
                "reference_balance_db": reference_balance,
            }
        )
    return rows


def fmt(value: float, width: int, digits: int = 2) -> str:
    return f"{value:{width}.{digits}f}" if np.isfinite(value) else f"{'-':>{width}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_phrase_options(parser)
    parser.add_argument("--transfer", action="store_true", help="also the demo model's transfer")
    args = parser.parse_args()
    names = phrase_names(args.phrases, args.only)
    rows = []
    for name in names:
        run = args.runs / name
        model = train_and_export(args.phrases / f"{name}_train.wav", run, args.minutes)
        rows.append(score_phrase(name, model, run, args.phrases / f"{name}_test.wav"))
        print(f"scored {name}", file=sys.stderr, flush=True)
    head = (
        f"{'phrase':<14} {'trainer val':>11} {'trainer test':>12} {'engine 24k':>10} "
        f"{'44.1k':>6} {'48k':>6} {'96k':>6} {'48k/trainer':>11} {'loud L1':>7} {'f0 L1':>6} "
        f"{'outl.':>6} {'voiced':>6} {'>Nyq dB':>7} {'silence':>7}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['phrase']:<14} {fmt(r['trainer_val'], 11)} {fmt(r['trainer_test'], 12)} "
            f"{fmt(r['engine_24'], 10)} {fmt(r['engine_44'], 6)} {fmt(r['engine_48'], 6)} "
            f"{fmt(r['engine_96'], 6)} {fmt(r['engine_48'] / r['trainer_test'], 11, 3)} "
            f"{fmt(r['loudness_l1'], 7)} {fmt(r['f0_l1'], 6, 1)} {fmt(r['outliers'], 6, 3)} "
            f"{fmt(r['voiced_ratio'], 6)} {fmt(r['above_nyquist_db'], 7, 1)} "
            f"{fmt(r['silence_dbfs'], 7, 1)}"
        )
    transfer: list[dict] = []
    if args.transfer:
        reference, rate = sf.read(example_audio_path(), dtype="float32", always_2d=True)
        reference_balance = balance_db(reference.mean(axis=1), rate)
        for name in names:
            transfer += score_transfer(name, args.phrases / f"{name}_test.wav", reference_balance)
        print(
            f"\ndemo model (flute), transfer\n{'phrase':<14} {'rate':>6} {'input f0':>8} "
            f"{'outl.':>6} {'voiced':>6} {'silence':>7} {'balance':>7} {'flute':>6}"
        )
        for r in transfer:
            print(
                f"{r['phrase']:<14} {r['rate']:6d} {fmt(r['input_f0_median'], 8, 0)} "
                f"{fmt(r['outliers'], 6, 3)} {fmt(r['voiced_ratio'], 6)} "
                f"{fmt(r['silence_dbfs'], 7, 1)} {fmt(r['balance_db'], 7, 1)} "
                f"{fmt(r['reference_balance_db'], 6, 1)}"
            )
    if args.json:
        args.json.write_text(json.dumps({"phrases": rows, "transfer": transfer}, indent=1))


if __name__ == "__main__":
    main()
