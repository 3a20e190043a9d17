"""Which FFT sizes should the spectral loss use by default? Quality per wall-clock minute.

Trains the `tiny` model on the bundled example for the same wall time with each candidate set of
FFT sizes, then scores every run with the same fixed 6-scale spectral distance on the validation
slice (trainer.metrics.METRIC_FFT_SIZES), so the candidates are judged on equal terms.

    python bench/loss_scales.py --minutes 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = {
    "ddsp-6": "2048,1024,512,256,128,64",
    "3-wide": "2048,512,128",
    "4": "2048,1024,256,64",
    "2": "1024,256",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--only", nargs="*", choices=list(CANDIDATES), default=list(CANDIDATES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            out = Path(tmp) / name
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "trainer.cli",
                    "--example",
                    "--out",
                    str(out),
                    "--minutes",
                    str(args.minutes),
                    "--fft-sizes",
                    CANDIDATES[name],
                    "--quiet",
                    "--checkpoint-every",
                    "100000",
                ],
                check=True,
                stderr=subprocess.DEVNULL,
            )
            metrics = json.loads((out / "metrics.json").read_text())
            rows.append((name, CANDIDATES[name], metrics))
    print(f"\nSpectral loss FFT sizes, {args.minutes} min of training each (tiny preset, example)")
    print(
        f"{'name':8} {'fft sizes':26} {'steps':>6} {'audio s/s':>9} {'val spec dist':>13} "
        f"{'loud L1 dB':>10} {'f0 L1 ct':>8}"
    )
    for name, sizes, m in rows:
        v = m["validation"]
        print(
            f"{name:8} {sizes:26} {m['steps']:6d} {m['audio_seconds_per_second']:9.1f} "
            f"{v['spectral_distance']:13.3f} {v['loudness_l1_db']:10.2f} {v['f0_l1_cents']:8.1f}"
        )


if __name__ == "__main__":
    main()
