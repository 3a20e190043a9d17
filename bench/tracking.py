"""Effect mode's streaming trackers against the model's own, on held-out real phrases.

For each evaluation phrase with a trained run (bench/quality.py's or bench/fidelity.py's
`RUNS/NAME/model.onnx`), the held-out part goes through the engine at 48 kHz twice: with
`grow-render --input` (the extractors the model was trained with, whole file, centred frames)
and with `--tracker streaming` (what `grow-live --effect` plays for it, causal; with the same
gate as the first, the loudness floor + 6 dB: the live default, -70 dB, is for a microphone's
room noise and would also cut these digital phrases' quietest notes). The streaming
render comes out late by its latency; it is scored at the shift (0..50 ms, whole control frames)
that gives the smallest spectral distance, and the shift is printed. Both are scored against
the recording with the trainer's metrics (spectral distance, loudness L1, f0 L1 and outliers),
as bench/quality.py scores the project, except that pitch is scored only where the recording is
voiced and above -60 dB: pYIN calls some frames of the rests' -100 dB tails voiced, and a
silent output there (which the streaming gate gives) is no pitch error.

    python -m bench.tracking --phrases /tmp/phrases --runs /tmp/runs [--only violin,cello]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from bench.fidelity import at_rate, phrase_names, render
from core.audio import load_audio
from core.features import FeatureConfig, compute_features
from realtime.gate import HYSTERESIS_DB
from trainer.crepe_f0 import track_f0_crepe
from trainer.metrics import reconstruction_metrics

ENGINE_RATE = 48000
MAX_SHIFT_FRAMES = 5
AUDIBLE_DB = -60.0  # pitch is scored where the recording is voiced and at least this loud


def scores(run: Path, test_wav: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    fc = FeatureConfig(**config["features"])
    target = compute_features(
        load_audio(test_wav, sample_rate=fc.sample_rate), fc, crepe=track_f0_crepe
    )
    # pYIN calls some frames of the rests' -100 dB tails voiced; a silent output there is right.
    audible = target.voiced & (target.loudness_db > AUDIBLE_DB)
    target = dataclasses.replace(target, voiced=audible)
    n = target.audio.shape[0]
    model = run / "model.onnx"
    offline = at_rate(render(model, test_wav, ENGINE_RATE), ENGINE_RATE, fc.sample_rate, n)
    # The model tracker's default gate (the loudness floor + 6 dB) for both, so that the
    # trackers alone differ: the live default (-70 dB, against room noise) also cuts the quiet
    # notes of these digital phrases.
    gate = str(fc.loudness_floor_db + HYSTERESIS_DB)
    live = render(model, test_wav, ENGINE_RATE, "--tracker", "streaming", "--gate", gate)
    hop = ENGINE_RATE // 100
    best: tuple[float, int, dict] | None = None
    for shift in range(MAX_SHIFT_FRAMES + 1):
        aligned = at_rate(live[shift * hop :], ENGINE_RATE, fc.sample_rate, n)
        metrics = reconstruction_metrics(aligned, target, fc)
        if best is None or metrics["spectral_distance"] < best[0]:
            best = (metrics["spectral_distance"], shift, metrics)
    assert best is not None
    model_metrics = reconstruction_metrics(offline, target, fc)
    return {"model": model_metrics, "streaming": best[2], "shift_ms": 10 * best[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phrases", type=Path, required=True, help="from bench/eval_phrases.py")
    parser.add_argument("--runs", type=Path, required=True, help="trained runs: RUNS/NAME")
    parser.add_argument("--only", help="comma-separated phrase names")
    args = parser.parse_args()
    print(
        "| phrase | distance model / streaming | loudness L1 dB model / streaming | "
        "f0 L1 cents model / streaming | f0 outliers model / streaming | streaming shift |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in phrase_names(args.phrases, args.only):
        run = args.runs / name
        if not (run / "model.onnx").exists():
            print(f"| {name} | (no run in {args.runs}) |")
            continue
        r = scores(run, args.phrases / f"{name}_test.wav")
        m, s = r["model"], r["streaming"]
        print(
            f"| {name} | {m['spectral_distance']:.2f} / {s['spectral_distance']:.2f} | "
            f"{m['loudness_l1_db']:.2f} / {s['loudness_l1_db']:.2f} | "
            f"{m['f0_l1_cents']:.1f} / {s['f0_l1_cents']:.1f} | "
            f"{m['f0_outlier_ratio']:.3f} / {s['f0_outlier_ratio']:.3f} | {r['shift_ms']} ms |",
            flush=True,
        )


if __name__ == "__main__":
    main()
