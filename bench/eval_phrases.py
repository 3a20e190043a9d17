"""Evaluation phrases: expressive monophonic MIDI phrases rendered by real sampled instruments.

For each instrument a seeded phrase is written as a MIDI file (legato notes of varied length
inside the instrument's range, vibrato by pitch bend on the longer notes, dynamics by
expression swells, a few rests so that silence is tested too), rendered by fluidsynth with the
MuseScore General soundfont, downmixed, trimmed of leading silence and split: the first 80 % to
train on (`NAME_train.wav`), the last 20 % held out (`NAME_test.wav`). The rendered audio is
never committed; this script recreates it.

    apt-get install fluidsynth musescore-general-soundfont-small
    python -m bench.eval_phrases --out /tmp/phrases [--seconds 40] [--instruments violin,cello]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SOUNDFONT = Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")
RENDER_RATE = 48000
TRAIN_FRACTION = 0.8


@dataclass(frozen=True)
class Instrument:
    name: str
    program: int  # General MIDI program, 0-based
    low: int  # MIDI note range of the phrase
    high: int


INSTRUMENTS = {
    i.name: i
    for i in (
        Instrument("violin", 40, 57, 88),
        Instrument("cello", 42, 36, 67),
        Instrument("flute", 73, 60, 91),
        Instrument("trumpet", 56, 55, 80),
        Instrument("clarinet", 71, 50, 82),
        Instrument("saxophone", 65, 49, 77),
    )
}


def phrase_midi(instrument: Instrument, seconds: float, *, seed: int, target: Path) -> None:
    """Write one phrase as a standard MIDI file (one track, 480 ticks per beat at 120 bpm)."""
    import mido

    rng = np.random.default_rng(seed)
    ticks_per_s = 960  # 480 ticks per beat, 2 beats per second
    track = mido.MidiTrack()
    events: list[tuple[int, mido.Message]] = [
        (0, mido.Message("program_change", program=instrument.program)),
        (0, mido.Message("control_change", control=7, value=110)),
        (0, mido.Message("pitchwheel", pitch=0)),
    ]
    note = int(rng.integers(instrument.low + 4, instrument.high - 4))
    t = 0.1
    while t < seconds - 1.0:
        length = float(rng.choice([0.25, 0.4, 0.6, 0.9, 1.3, 1.8]))
        velocity = int(rng.integers(50, 120))
        start, stop = round(t * ticks_per_s), round((t + length) * ticks_per_s)
        events.append((start, mido.Message("note_on", note=note, velocity=velocity)))
        # Expression: a swell or a fade across the note.
        shape = rng.choice(["swell", "fade", "flat"])
        for j in range(8):
            x = j / 7
            level = {"swell": 0.5 + 0.5 * np.sin(np.pi * x), "fade": 1.0 - 0.5 * x}.get(
                str(shape), 0.85
            )
            when = start + round(x * (stop - start) * 0.95)
            events.append(
                (when, mido.Message("control_change", control=11, value=int(127 * level)))
            )
        if length >= 0.6:  # delayed vibrato, 5.5 Hz, up to +-35 cents (bend range +-2 st)
            depth = rng.uniform(15, 35) / 200.0
            for j in range(int(length * 50)):
                s = j / 50
                ramp = min(1.0, max(0.0, (s - 0.2) / 0.3))
                bend = depth * ramp * np.sin(2 * np.pi * 5.5 * s)
                events.append(
                    (
                        start + round(s * ticks_per_s),
                        mido.Message("pitchwheel", pitch=int(8191 * bend)),
                    )
                )
        legato = rng.random() < 0.6
        off = stop + (round(0.03 * ticks_per_s) if legato else 0)
        events.append((off, mido.Message("note_off", note=note)))
        events.append((off, mido.Message("pitchwheel", pitch=0)))
        t += length
        if rng.random() < 0.12:  # a rest
            t += float(rng.uniform(0.4, 1.0))
        note = int(
            np.clip(
                note + rng.choice([-7, -5, -3, -2, -1, 1, 2, 3, 4, 5, 7]),
                instrument.low,
                instrument.high,
            )
        )
    events.sort(key=lambda e: e[0])
    last = 0
    for when, message in events:
        track.append(message.copy(time=when - last))
        last = when
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(str(target))


def render_phrase(midi: Path, target: Path) -> np.ndarray:
    """fluidsynth -> mono float32 at RENDER_RATE, leading silence trimmed."""
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.8",
            "-r",
            str(RENDER_RATE),
            "-F",
            str(target),
            str(SOUNDFONT),
            str(midi),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    audio, _ = sf.read(target, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    loud = np.flatnonzero(np.abs(mono) > 1e-3)
    return mono[int(loud[0]) :] if loud.size else mono


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the WAV files")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each phrase")
    parser.add_argument("--instruments", default=",".join(INSTRUMENTS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if shutil.which("fluidsynth") is None or not SOUNDFONT.is_file():
        raise SystemExit("needs: apt-get install fluidsynth musescore-general-soundfont-small")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'phrase':<10} {'train s':>8} {'test s':>7} {'peak dBFS':>9}")
    for i, name in enumerate(args.instruments.split(",")):
        if name not in INSTRUMENTS:
            raise SystemExit(f"unknown instrument {name!r}; choose from {', '.join(INSTRUMENTS)}")
        with tempfile.TemporaryDirectory() as scratch:
            midi = Path(scratch) / f"{name}.mid"
            phrase_midi(INSTRUMENTS[name], args.seconds, seed=args.seed + i, target=midi)
            audio = render_phrase(midi, Path(scratch) / f"{name}.wav")
        cut = int(TRAIN_FRACTION * audio.shape[0])
        sf.write(args.out / f"{name}_train.wav", audio[:cut], RENDER_RATE, subtype="PCM_24")
        sf.write(args.out / f"{name}_test.wav", audio[cut:], RENDER_RATE, subtype="PCM_24")
        peak = 20 * np.log10(max(float(np.abs(audio).max()), 1e-9))
        train_s, test_s = cut / RENDER_RATE, (audio.shape[0] - cut) / RENDER_RATE
        print(f"{name:<10} {train_s:8.1f} {test_s:7.1f} {peak:9.1f}")


if __name__ == "__main__":
    main()
