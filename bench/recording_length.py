"""What a longer recording buys: one instrument's phrase, trained on its first 1, 5 and 15 minutes.

One long expressive phrase (bench/eval_phrases.py's generator and renderer, one seed) is split
into training audio and a held-out last minute that every run is scored on. For each recording
length the project's recipe trains (`grow-train --minutes M`, default flags, the NCA included)
on the first that many minutes, is exported, and plays the held-out minute through
`grow-render --input` at 48 kHz with default flags; the output is scored at the training rate
with the trainer's metrics (bench/quality.py's scoring). Prints one table.

    python -m bench.recording_length --work /tmp/reclen --instrument violin --lengths 1,5,15
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import soundfile as sf

from bench.eval_phrases import INSTRUMENTS, RENDER_RATE, phrase_midi, render_phrase
from bench.fidelity import train_and_export
from bench.quality import project_scores

HELD_OUT_S = 60.0


def make_recording(work: Path, instrument: str, longest_min: float, seed: int) -> Path:
    """Render the phrase once (longest + the held-out minute); returns the held-out WAV and
    leaves the whole training part as `work / train_full.wav`."""
    test_wav, full_wav = work / "test.wav", work / "train_full.wav"
    if test_wav.is_file() and full_wav.is_file():
        return test_wav
    seconds = longest_min * 60.0 + HELD_OUT_S + 2.0  # leading silence is trimmed
    with tempfile.TemporaryDirectory() as scratch:
        midi = Path(scratch) / "phrase.mid"
        phrase_midi(INSTRUMENTS[instrument], seconds, seed=seed, target=midi)
        audio = render_phrase(midi, Path(scratch) / "phrase.wav")
    cut = audio.shape[0] - round(HELD_OUT_S * RENDER_RATE)
    sf.write(full_wav, audio[:cut], RENDER_RATE, subtype="PCM_24")
    sf.write(test_wav, audio[cut:], RENDER_RATE, subtype="PCM_24")
    return test_wav


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="audio and runs (reused)")
    parser.add_argument("--instrument", default="violin", choices=list(INSTRUMENTS))
    parser.add_argument("--lengths", default="1,5,15", help="recording minutes, comma-separated")
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget per run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lengths = [float(x) for x in args.lengths.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    test_wav = make_recording(args.work, args.instrument, max(lengths), args.seed)
    full, rate = sf.read(args.work / "train_full.wav", dtype="float32")
    rows = []
    for length in lengths:
        name = f"{args.instrument}-{length:g}min"
        train_wav = args.work / f"{name}.wav"
        if not train_wav.is_file():
            sf.write(train_wav, full[: round(length * 60 * rate)], rate, subtype="PCM_24")
        run = args.work / f"{name}-run{args.minutes:g}"
        model = train_and_export(train_wav, run, args.minutes)
        rows.append((length, project_scores(run, model, test_wav)))
        print(f"scored {name}: distance {rows[-1][1]['spectral_distance']:.2f}", flush=True)
    print(f"\n{args.instrument}, {args.minutes:g} minutes of training, held-out minute:")
    print("| recording | steps | audio s/s | distance | loudness L1 dB | f0 L1 cents | outliers |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for length, s in rows:
        print(
            f"| {length:g} min | {s['steps']} | {s['audio_s_per_s']:.1f} | "
            f"{s['spectral_distance']:.2f} | {s['loudness_l1_db']:.2f} | "
            f"{s['f0_l1_cents']:.1f} | {s['f0_outlier_ratio']:.3f} |"
        )


if __name__ == "__main__":
    main()
