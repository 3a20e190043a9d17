"""`grow-render` as a user runs it: the console script, the shipped demo model, real WAV files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

BIN = Path(sys.executable).parent


def grow_render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "grow-render"), *args], capture_output=True, text=True, timeout=300
    )


def test_demo_growth_render(tmp_path: Path) -> None:
    out = tmp_path / "g.wav"
    done = grow_render("--grow", "nca", "--out", str(out))
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out)
    assert rate == 48000 and sf.info(out).subtype == "PCM_24"
    assert audio.shape[0] == round(32 * 0.7 * 48000)
    assert 0.01 < np.abs(audio).max() < 1.0
    again = grow_render("--grow", "nca", "--out", str(out))
    assert again.returncode == 2 and "exists; pass --force" in again.stderr


def test_fixed_strategy_at_44k_as_float(tmp_path: Path) -> None:
    out = tmp_path / "lin.wav"
    done = grow_render(
        "--grow",
        "fibonacci",
        "--out",
        str(out),
        "--samplerate",
        "44100",
        "--format",
        "float",
        "--stages",
        "8",
    )
    assert done.returncode == 0, done.stderr
    info = sf.info(out)
    assert (info.samplerate, info.subtype) == (44100, "FLOAT")
    assert info.frames == round(8 * 0.7 * 44100)


def test_score_plays_its_notes(tmp_path: Path) -> None:
    score = tmp_path / "score.json"
    score.write_text(
        json.dumps(
            [
                {"time": 0.0, "duration": 0.8, "note": 69},
                {"time": 1.0, "duration": 0.8, "note": 76, "velocity": 0.8, "loudness_db": -20},
            ]
        )
    )
    out = tmp_path / "s.wav"
    done = grow_render("--score", str(score), "--out", str(out))
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out)
    assert audio.shape[0] == round(2.3 * rate)  # last note off at 1.8 s + 0.5 s tail

    def fundamental(start: float) -> float:
        seg = audio[int((start + 0.2) * rate) : int((start + 0.7) * rate)]
        spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=8 * len(seg)))
        freqs = np.fft.rfftfreq(8 * len(seg), 1 / rate)
        band = (freqs > 200) & (freqs < 1000)
        return float(freqs[band][np.argmax(spec[band])])

    assert fundamental(0.0) == pytest.approx(440.0, abs=2.0)
    assert fundamental(1.0) == pytest.approx(659.26, abs=3.0)


def line_db(audio: np.ndarray, rate: int, hz: float) -> float:
    """Level of the strongest spectral line within 3 % of hz, dB."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n=4 * len(audio)))
    freqs = np.fft.rfftfreq(4 * len(audio), 1 / rate)
    return float(20 * np.log10(spec[(freqs > 0.97 * hz) & (freqs < 1.03 * hz)].max() + 1e-12))


@pytest.mark.parametrize("kind", ["json", "midi"])
def test_a_chord_sounds_both_pitches(tmp_path: Path, kind: str) -> None:
    """A3 and E4 together (E4 from 0.2 s): both sound by default; --voices 1 is legato, the later
    note takes the voice."""
    if kind == "json":
        score = tmp_path / "chord.json"
        score.write_text(
            json.dumps(
                [
                    {"time": 0.0, "duration": 1.2, "note": "A3"},
                    {"time": 0.2, "duration": 1.0, "note": "E4", "velocity": 0.8},
                ]
            )
        )
    else:
        import mido

        midi = mido.MidiFile(ticks_per_beat=100)  # 120 bpm: a tick is 5 ms
        track = mido.MidiTrack()
        track.append(mido.Message("note_on", note=57, velocity=127, time=0))
        track.append(mido.Message("note_on", note=64, velocity=100, time=40))
        track.append(mido.Message("note_off", note=64, velocity=0, time=200))
        track.append(mido.Message("note_off", note=57, velocity=0, time=0))
        midi.tracks.append(track)
        score = tmp_path / "chord.mid"
        midi.save(score)
    levels = {}
    for voices in ("8", "1"):
        out = tmp_path / f"chord-{voices}.wav"
        done = grow_render("--score", str(score), "--voices", voices, "--out", str(out))
        assert done.returncode == 0, done.stderr
        audio, rate = sf.read(out)
        held = audio[int(0.5 * rate) : int(1.1 * rate)]
        levels[voices] = (line_db(held, rate, 220.0), line_db(held, rate, 329.63))
    (a3, e4), (mono_a3, mono_e4) = levels["8"], levels["1"]
    assert abs(a3 - e4) < 12.0 and abs(e4 - mono_e4) < 6.0, levels
    assert a3 - mono_a3 > 20.0, levels  # one voice: A3 gave way to E4


def test_midi_score_with_picture(tmp_path: Path) -> None:
    import mido

    midi = mido.MidiFile(ticks_per_beat=96)  # 120 bpm: a beat is 0.5 s
    track = mido.MidiTrack()
    track.append(mido.Message("note_on", note=57, velocity=100, time=0))
    track.append(mido.Message("note_off", note=57, velocity=0, time=192))
    midi.tracks.append(track)
    midi.save(tmp_path / "a3.mid")
    out, png = tmp_path / "m.wav", tmp_path / "m.png"
    done = grow_render("--score", str(tmp_path / "a3.mid"), "--out", str(out), "--png", str(png))
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out)
    assert audio.shape[0] == round(1.5 * rate)  # note off at 1.0 s + 0.5 s tail
    seg = audio[int(0.3 * rate) : int(0.9 * rate)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=8 * len(seg)))
    freqs = np.fft.rfftfreq(8 * len(seg), 1 / rate)
    band = (freqs > 150) & (freqs < 400)
    assert float(freqs[band][np.argmax(spec[band])]) == pytest.approx(220.0, abs=1.5)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_osc_log_replay_applies_the_fade(tmp_path: Path) -> None:
    log = tmp_path / "s.jsonl"
    log.write_text(
        '{"format": "timbre-grower-control-log", "version": 1, "sample_rate": 44100, "seed": 4}\n'
        '{"pos": 0, "action": "note_on", "args": [69, 1.0]}\n'
        '{"end": 44100, "fade": 882}\n'
    )
    out = tmp_path / "r.wav"
    done = grow_render("--osc-log", str(log), "--out", str(out), "--format", "float")
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out, dtype="float32")
    assert (rate, audio.shape[0]) == (44100, 44100)  # the log's rate and length
    assert np.abs(audio[-3000:-900]).max() > 0.01 and audio[-1] == 0.0
    other = grow_render("--osc-log", str(log), "--voices", "8", "--out", str(tmp_path / "x.wav"))
    assert other.returncode == 2 and "was played with 1 voice: a replay needs" in other.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--grow", "nca", "--model", "missing.onnx"), "missing.onnx: no such file"),
        (("--grow", "nca", "--samplerate", "12345"), "--samplerate 12345 must be one of"),
        (("--grow", "nca", "--timbre", "oboe"), "unknown timbre 'oboe'; presets: flute"),
        (("--grow", "nca", "--blocksize", "0"), "--blocksize 0 must be in 1..65536 samples"),
        (("--grow", "nca", "--note", "300"), "--note 300 must be in 0..127 (MIDI note)"),
        (("--grow", "nca", "--stages", "1"), "--stages 1 must be in 2..1024 stages"),
        (("--grow", "nca", "--seed", "-1"), "--seed -1 must be in 0..9223372036854775807"),
        (("--grow", "nca", "--loudness", "20"), "--loudness 20 must be in -100..0 dB"),
        (("--grow", "nca", "--gain", "nan"), "--gain nan must be in -60..12 dB"),
        (("--grow", "nca", "--tail", "-1"), "--tail -1 must be in 0..60 s"),
        (("--input", "IN", "--pitch-shift", "100"), "--pitch-shift 100 must be in -48..48"),
        (("--score", "SCORE"), "bad.json: note 0: missing 'note'"),
        (("--score", "NAMED"), "named.json: note 0: 'H2' is not a note name like C4"),
        (("--grow", "nca", "--growth", "off"), "--grow renders the growth"),
        (("--grow", "nca", "--timbre", "input"), "--timbre input needs --input"),
        (("--grow", "nca", "--png", "p.jpg"), "--png p.jpg must end in .png"),
        (("--score", "MIDI"), "bad.mid: not a standard MIDI file"),
        (("--score", "LOUD"), "loud.json: note 0: loudness_db 50 must be in -100..0"),
        (("--score", "HIGH"), "high.json: note 0: note 156 must be in 0..127"),
        (("--score", "OBOE"), "oboe.json: note 0: unknown timbre 'oboe'; presets: flute"),
        (("--score", "TYPO"), "typo.json: note 0: unknown key 'veloctiy'; a note has time,"),
        (("--score", "LONG"), "long.json: note 0: duration 1e+09 must be in 0.001..3600"),
        (("--score", "EMPTY"), "empty.json: the score holds no notes"),
        (("--score", "nope.json"), "nope.json: no such file"),
        (("--score", "nope.mid"), "nope.mid: no such file"),
        (("--osc-log", "nope.jsonl"), "nope.jsonl: no such file"),
        (("--osc-log", "SCORE"), "bad.json: not a Timbre Grower control log"),
        (("--score", "SCORE", "--voices", "0"), "--voices 0 must be in 1..64 voices"),
        (("--input", "IN", "--voices", "4"), "--input drives one voice (its tracked pitch)"),
    ],
)
def test_bad_command_lines_are_named(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    score = tmp_path / "bad.json"
    score.write_text(json.dumps([{"time": 0, "duration": 1}]))
    (tmp_path / "bad.mid").write_text("MIDI? no.\n")
    named = tmp_path / "named.json"
    named.write_text(json.dumps([{"time": 0, "duration": 1, "note": "H2"}]))
    for name, note in (
        ("loud", {"note": 60, "loudness_db": 50}),
        ("high", {"note": "C12"}),
        ("oboe", {"note": 60, "timbre": "oboe"}),
        ("typo", {"note": 60, "veloctiy": 0.5}),
        ("long", {"note": 60, "duration": 1e9}),
    ):
        (tmp_path / f"{name}.json").write_text(json.dumps([{"time": 0, "duration": 1, **note}]))
    (tmp_path / "empty.json").write_text("[]")
    names = {
        "TYPO": str(tmp_path / "typo.json"),
        "LONG": str(tmp_path / "long.json"),
        "EMPTY": str(tmp_path / "empty.json"),
        "LOUD": str(tmp_path / "loud.json"),
        "HIGH": str(tmp_path / "high.json"),
        "OBOE": str(tmp_path / "oboe.json"),
        "SCORE": str(score),
        "MIDI": str(tmp_path / "bad.mid"),
        "NAMED": str(named),
        "IN": str(tmp_path / "in.wav"),  # never read: the options are checked first
    }
    args = tuple(names.get(a, a) for a in args)
    done = grow_render(*args, "--out", str(tmp_path / "x.wav"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.wav").exists()


def test_a_picture_without_matplotlib_is_refused_before_the_render(tmp_path: Path) -> None:
    """The live extra has no matplotlib: --png says so before anything is written."""
    blocked = (
        "import sys; sys.modules['matplotlib'] = None; "
        "from realtime.render_cli import main; sys.exit(main(sys.argv[1:]))"
    )
    out, png = tmp_path / "x.wav", tmp_path / "x.png"
    done = subprocess.run(
        [sys.executable, "-c", blocked, "--grow", "nca", "--out", str(out), "--png", str(png)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "--png needs matplotlib: pip install matplotlib" in done.stderr
    assert not out.exists() and not png.exists()


def test_a_text_file_as_model(tmp_path: Path) -> None:
    fake = tmp_path / "fake.onnx"
    fake.write_text("not a model\n" * 10)
    done = grow_render("--grow", "nca", "--model", str(fake), "--out", str(tmp_path / "x.wav"))
    assert done.returncode == 2 and "fake.onnx is not an ONNX model" in done.stderr


def test_outputs_are_checked_before_any_work(tmp_path: Path) -> None:
    """A missing folder is an error, never created; the extension must fit the format."""
    missing = tmp_path / "no" / "such" / "x.wav"
    done = grow_render("--grow", "nca", "--out", str(missing))
    assert done.returncode == 2 and f"folder {missing.parent} does not exist" in done.stderr
    assert not (tmp_path / "no").exists()
    done = grow_render("--grow", "nca", "--out", str(tmp_path / "x.mp3"))
    assert done.returncode == 2 and "x.mp3 must end in .wav" in done.stderr


def test_a_score_with_note_names(tmp_path: Path) -> None:
    score = tmp_path / "tune.json"
    notes = [
        {"time": 0.0, "duration": 0.4, "note": "A4"},
        {"time": 0.5, "duration": 0.4, "note": "A5"},
    ]
    score.write_text(json.dumps(notes))
    out = tmp_path / "tune.wav"
    done = grow_render("--score", str(score), "--out", str(out), "--tail", "0.1")
    assert done.returncode == 0, done.stderr
    pitch = track(out)
    assert np.median(pitch[10:35]) == pytest.approx(440.0, rel=0.02)
    assert np.median(pitch[60:85]) == pytest.approx(880.0, rel=0.02)


def track(path: Path) -> np.ndarray:
    import librosa

    audio, rate = sf.read(path, dtype="float32")
    return librosa.yin(audio, fmin=100, fmax=2000, sr=rate, hop_length=rate // 100)


def test_input_resynthesis_follows_the_recording(tmp_path: Path, example_path: Path) -> None:
    out = tmp_path / "r.wav"
    done = grow_render("--input", str(example_path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sf.info(out).duration == pytest.approx(sf.info(example_path).duration, abs=0.02)
    played, original = track(out), track(example_path)
    n = min(len(played), len(original))
    cents = 1200 * np.abs(np.log2(played[10 : n - 10] / original[10 : n - 10]))
    assert np.median(cents) < 15
    shifted = tmp_path / "up.wav"
    done = grow_render(
        "--input", str(example_path), "--out", str(shifted), "--pitch-shift", "12", "--gain", "-6"
    )
    assert done.returncode == 0, done.stderr
    up = track(shifted)
    octave = 1200 * np.log2(up[10 : n - 10] / original[10 : n - 10])
    assert np.median(octave) == pytest.approx(1200, abs=15)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("cut", "cut.wav: truncated WAV file"),
        ("text", "text.wav: cannot read as audio"),
        ("silent", "silent.wav: audio is silent"),
        ("missing", "missing.wav: no such file"),
    ],
)
def test_input_bad_files_are_named(tmp_path: Path, case: str, message: str) -> None:
    whole = tmp_path / "whole.wav"
    sf.write(whole, 0.3 * np.sin(np.arange(48000) * 2 * np.pi * 440 / 48000), 48000)
    files = {
        "cut": tmp_path / "cut.wav",
        "text": tmp_path / "text.wav",
        "silent": tmp_path / "silent.wav",
        "missing": tmp_path / "missing.wav",
    }
    files["cut"].write_bytes(whole.read_bytes()[:30000])
    files["text"].write_text("not audio at all\n" * 20)
    sf.write(files["silent"], np.zeros(48000), 48000)
    done = grow_render("--input", str(files[case]), "--out", str(tmp_path / "x.wav"))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.wav").exists()
