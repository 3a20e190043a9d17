"""Sound quality on audio the model never heard: the project's recipe against a seed-style
baseline (bench/seed_baseline.py) trained for the same wall-clock minutes on the same data.

For each evaluation phrase (NAME_train.wav / NAME_test.wav from bench/eval_phrases.py, plus the
bundled flute split 80/20) it trains both on the train part, then resynthesizes the held-out
part: the project through the engine (`grow-render --input` at 48 kHz, default flags; the run
from `grow-train --minutes M`, reused when it exists, as bench/fidelity.py does), the baseline
through its own model. Both outputs are resampled to 24 kHz and scored against the recording
with the trainer's metrics (multi-scale spectral distance, FFT 2048..64, lin + log; loudness
L1 over all frames, over the notes (frames voiced in the recording) and over the rest; f0 L1
and outliers). Prints one table with the ratio of the distances and each loop's
training throughput (audio-seconds per wall-clock second).

The project's minutes cover its whole recipe (the DDSP model, then the NCA); the baseline gets
all of them for its one model.

With --curve MINUTES (comma-separated), the project's recipe is also trained for each budget on
the --curve-phrases and the held-out distance is plotted against minutes (--png).

    python -m bench.eval_phrases --out /tmp/phrases
    python -m bench.quality --phrases /tmp/phrases --runs /tmp/runs --minutes 4 \\
        --curve 1,2,4,8 --curve-phrases violin,cello --png quality-curve.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench.fidelity import add_phrase_options, at_rate, phrase_names, render, train_and_export
from bench.seed_baseline import SAMPLE_RATE as SEED_RATE
from bench.seed_baseline import resynthesize_seed, seed_features, train_seed_baseline
from core.audio import load_audio
from core.features import FeatureConfig, compute_features
from trainer.crepe_f0 import track_f0_crepe
from trainer.metrics import reconstruction_metrics

ENGINE_RATE = 48000
METRICS = (
    "spectral_distance",
    "loudness_l1_db",
    "loudness_l1_voiced_db",
    "loudness_l1_unvoiced_db",
    "f0_l1_cents",
    "f0_outlier_ratio",
)


def project_scores(run: Path, model: Path, test_wav: Path) -> dict:
    """The engine's resynthesis of the held-out part, scored; and the run's throughput."""
    config = json.loads((run / "config.json").read_text())
    fc = FeatureConfig(**config["features"])
    audio = load_audio(test_wav, sample_rate=fc.sample_rate)
    target = compute_features(audio, fc, crepe=track_f0_crepe)
    played = at_rate(
        render(model, test_wav, ENGINE_RATE), ENGINE_RATE, fc.sample_rate, target.audio.shape[0]
    )
    scores = reconstruction_metrics(played, target, fc)
    trained = json.loads((run / "metrics.json").read_text())
    return {
        **{k: scores[k] for k in METRICS},
        "steps": trained["steps"],
        "audio_s_per_s": trained["audio_seconds_per_second"],
    }


def baseline_scores(train_wav: Path, test_wav: Path, minutes: float, cache: Path) -> dict:
    """Train the seed-style baseline, resynthesize the held-out part, score it at 24 kHz.

    The scores are kept in `cache` (JSON) and reused: the baseline does not change with the
    project's recipe, so comparing recipes need not retrain it (delete the file to redo it)."""
    if cache.is_file():
        return dict(json.loads(cache.read_text()))
    seed_run = train_seed_baseline(
        seed_features(load_audio(train_wav, sample_rate=SEED_RATE)), minutes
    )
    out = resynthesize_seed(
        seed_run.model, seed_features(load_audio(test_wav, sample_rate=SEED_RATE))
    )
    fc = FeatureConfig()
    audio = load_audio(test_wav, sample_rate=fc.sample_rate)
    target = compute_features(audio, fc, crepe=track_f0_crepe)
    scored = at_rate(out, SEED_RATE, fc.sample_rate, target.audio.shape[0])
    scores = reconstruction_metrics(scored, target, fc)
    result = {
        **{k: scores[k] for k in METRICS},
        "steps": seed_run.steps,
        "audio_s_per_s": seed_run.audio_seconds_per_second,
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result))
    return result


def fmt(value: float, width: int, digits: int = 2) -> str:
    return f"{value:{width}.{digits}f}" if np.isfinite(value) else f"{'-':>{width}}"


def print_table(rows: list[dict], minutes: float) -> None:
    print(
        f"\nheld-out audio, {minutes:g} min of training each; project through the engine at "
        f"{ENGINE_RATE // 1000} kHz (default flags)"
    )
    print(
        f"{'phrase':<14} {'loop':<9} {'distance':>8} {'ratio':>6} {'loud L1':>7} {'notes':>6} "
        f"{'rests':>6} {'f0 L1':>6} {'outl.':>6} {'steps':>6} {'audio s/s':>9}"
    )
    for row in rows:
        for loop in ("project", "baseline"):
            r = row[loop]
            ratio = r["spectral_distance"] / row["baseline"]["spectral_distance"]
            print(
                f"{row['phrase']:<14} {loop:<9} {fmt(r['spectral_distance'], 8)} "
                f"{fmt(ratio, 6)} {fmt(r['loudness_l1_db'], 7)} "
                f"{fmt(r['loudness_l1_voiced_db'], 6)} {fmt(r['loudness_l1_unvoiced_db'], 6)} "
                f"{fmt(r['f0_l1_cents'], 6, 1)} "
                f"{fmt(r['f0_outlier_ratio'], 6, 3)} {r['steps']:6d} "
                f"{fmt(r['audio_s_per_s'], 9, 1)}"
            )
    ratios = [r["project"]["spectral_distance"] / r["baseline"]["spectral_distance"] for r in rows]
    speed = [r["project"]["audio_s_per_s"] / r["baseline"]["audio_s_per_s"] for r in rows]
    print(
        f"median distance ratio project/baseline {np.median(ratios):.3f}; "
        f"median throughput ratio {np.median(speed):.1f}x"
    )


def curve(
    phrases: Path, runs: Path, names: list[str], budgets: list[float], table_minutes: float
) -> dict:
    """{phrase: [(minutes, held-out distance through the engine)]}, a fresh run per budget (the
    table's own run for its budget)."""
    points: dict[str, list[tuple[float, float]]] = {}
    for name in names:
        for minutes in budgets:
            run = runs / (name if minutes == table_minutes else f"{name}-{minutes:g}min")
            model = train_and_export(phrases / f"{name}_train.wav", run, minutes)
            distance = project_scores(run, model, phrases / f"{name}_test.wav")
            points.setdefault(name, []).append((minutes, distance["spectral_distance"]))
            print(f"curve {name} {minutes:g} min: {distance['spectral_distance']:.3f}", flush=True)
    return points


def plot_curve(points: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in points.items():
        ax.plot(*zip(*pts, strict=True), marker="o", label=name)
    ax.set_xscale("log", base=2)
    budgets = sorted({m for pts in points.values() for m, _ in pts})
    ax.set_xticks(budgets, [f"{m:g}" for m in budgets])
    ax.set_xlabel("grow-train --minutes (2 CPU cores)")
    ax.set_ylabel("held-out spectral distance (engine, 48 kHz)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_phrase_options(parser)
    parser.add_argument("--curve", help="comma-separated budgets (minutes) for the curve")
    parser.add_argument("--curve-phrases", default="violin,cello", help="phrases for the curve")
    parser.add_argument("--png", type=Path, default=Path("quality-curve.png"), help="the curve")
    args = parser.parse_args()
    names = phrase_names(args.phrases, args.only)
    rows = []
    for name in names:
        train_wav, test_wav = (args.phrases / f"{name}_{part}.wav" for part in ("train", "test"))
        run = args.runs / name
        model = train_and_export(train_wav, run, args.minutes)
        rows.append(
            {
                "phrase": name,
                "project": project_scores(run, model, test_wav),
                "baseline": baseline_scores(
                    train_wav,
                    test_wav,
                    args.minutes,
                    args.runs / f"{name}-baseline-{args.minutes:g}min.json",
                ),
            }
        )
        print(f"scored {name}", file=sys.stderr, flush=True)
    print_table(rows, args.minutes)
    points = {}
    if args.curve:
        budgets = [float(m) for m in args.curve.split(",")]
        points = curve(
            args.phrases, args.runs, args.curve_phrases.split(","), budgets, args.minutes
        )
        plot_curve(points, args.png)
        print(f"curve: {args.png}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "curve": points}, indent=1))


if __name__ == "__main__":
    main()
