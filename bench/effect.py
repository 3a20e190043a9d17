"""Effect mode through JACK: input -> output latency, pitch following and underflows.

For each block size (the JACK dummy server's period, 48 kHz) and compute mode, runs
`grow-live --jack --effect` with the demo model while another JACK client (tests/jack_loop.py)
plays the bundled flute recording into timbre-grower:in_1 over and over (half a second of
silence before each take) and records what comes back on the same period clock. Prints per row:
the latency grow-live reports, the measured onset latency (input onset above -60 dBFS -> first
output sample; mean and max over every take), the median pitch error over frames voiced in both
(after the reported latency), 10 ms frames that sounded where the input had been silent for
100 ms, underflows (grow-live's count) and the server's xruns (JACK reports every xrun to every
client, whoever was late: grow-live counts them as host-flagged underflows), and the callback
load.

    python bench/effect.py [--seconds 60] [--blocks 64,128,256] [--modes thread,callback]
    python bench/effect.py --model RUN/model.onnx --phrase NAME_test.wav --blocks 128 --modes thread

`--model` and `--phrase` play another model with another recording (bench/eval_phrases.py's
held-out parts and bench/quality.py's runs: each instrument through its own model).

Needs jackd (apt-get install jackd2) and JACK-Client; the bench starts its own servers.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

RATE = 48000


def takes(seconds: float, phrase: Path | None) -> tuple[np.ndarray, list[int]]:
    """The phrase (default: the bundled flute), each take after 0.5 s of silence, repeated to
    fill `seconds`; the onsets."""
    from core.audio import load_audio
    from trainer.example import example_audio_path

    recording = load_audio(phrase or example_audio_path(), sample_rate=RATE)
    take = np.concatenate([np.zeros(RATE // 2, np.float32), recording])
    count = max(1, round(seconds * RATE / take.shape[0]))
    onsets = [i * take.shape[0] + RATE // 2 for i in range(count)]
    return np.tile(take, count), onsets


def summary_number(pattern: str, stderr: str) -> float:
    found = re.search(pattern, stderr)
    return float(found.group(1)) if found else float("nan")


def row(
    block: int, mode: str, seconds: float, model: Path | None, phrase: Path | None
) -> dict[str, float]:
    from tests.jack_loop import (
        jack_server,
        live_session,
        onset_latencies,
        pitch_error_cents,
        reported_latency_s,
        sound_in_silence,
    )

    signal, onsets = takes(seconds, phrase)
    with jack_server(block, rate=RATE) as env:
        tester, stderr = live_session(
            env,
            signal,
            "--effect",
            "--compute",
            mode,
            "--jack-connect-in",
            "tester:send",
            *(["--model", str(model)] if model else []),
            tries=1,
        )
    latency = onset_latencies(tester.sent, tester.received, onsets) / RATE
    reported = reported_latency_s(stderr)
    error = pitch_error_cents(tester.sent, tester.received, rate=RATE, lag_s=reported)
    _, loud = sound_in_silence(tester.sent, tester.received, rate=RATE)
    return {
        "reported_ms": 1000 * reported,
        "onset_ms": 1000 * float(latency.mean()),
        "onset_max_ms": 1000 * float(latency.max()),
        "cents": float(np.median(error)),
        "loud_in_silence": loud,
        "underflows": summary_number(r"played [\d.]+ s, (\d+) underflows", stderr),
        "xruns": tester.xruns,
        "p99": summary_number(r"callback load p99 (\d+)%", stderr),
        "played_s": summary_number(r"played ([\d.]+) s", stderr),
    }


def print_table(
    seconds: float,
    blocks: list[int],
    modes: list[str],
    model: Path | None = None,
    phrase: Path | None = None,
) -> None:
    print(
        f"| block | compute | reported ms | onset ms mean / max | pitch error (median cents) | "
        f"sound in silence (frames) | underflows / server xruns | callback p99 | "
        f"(over {seconds:.0f} s) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for block in blocks:
        for mode in modes:
            r = row(block, mode, seconds, model, phrase)
            print(
                f"| {block} | {mode} | {r['reported_ms']:.1f} | {r['onset_ms']:.1f} / "
                f"{r['onset_max_ms']:.1f} | {r['cents']:.1f} | {r['loud_in_silence']} | "
                f"{r['underflows']:.0f} / {r['xruns']} | {r['p99']:.0f} % | "
                f"{r['played_s']:.0f} s |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--blocks", default="64,128,256")
    parser.add_argument("--modes", default="thread,callback")
    parser.add_argument("--model", type=Path, help="artifact (default: the demo model)")
    parser.add_argument("--phrase", type=Path, help="recording (default: the bundled flute)")
    args = parser.parse_args()
    blocks = [int(b) for b in args.blocks.split(",")]
    print_table(args.seconds, blocks, args.modes.split(","), args.model, args.phrase)


if __name__ == "__main__":
    main()
