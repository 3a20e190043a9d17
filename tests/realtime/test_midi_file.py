"""Standard MIDI files written by mido (an independent writer) read back as score events."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from core.errors import ParameterError
from realtime.midi_file import parse_midi_file
from realtime.midi_input import midi_control


def song(path: Path, *, fmt: int = 1) -> Path:
    """Two tracks at 480 ticks/beat: tempo 120 then 60 bpm after one beat; two notes, a bend."""
    midi = mido.MidiFile(type=fmt, ticks_per_beat=480)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=480))
    notes = mido.MidiTrack()
    notes.append(mido.Message("program_change", program=73, time=0))
    notes.append(mido.Message("note_on", note=60, velocity=127, time=240))  # 0.25 s
    notes.append(mido.Message("pitchwheel", pitch=4096, time=240))  # 0.5 s: +1 semitone
    notes.append(mido.Message("note_on", note=60, velocity=0, time=480))  # 1.5 s (60 bpm)
    notes.append(mido.Message("control_change", control=7, value=100, time=0))
    notes.append(mido.Message("note_on", note=67, velocity=64, time=0))
    notes.append(mido.Message("note_off", note=67, velocity=0, time=240))  # 2.0 s
    if fmt == 0:
        merged = mido.merge_tracks([meta, notes])
        midi.tracks.append(merged)
    else:
        midi.tracks += [meta, notes]
    midi.save(path)  # mido writes running status
    return path


@pytest.mark.parametrize("fmt", [0, 1])
def test_notes_tempo_and_bend(tmp_path: Path, fmt: int) -> None:
    events = parse_midi_file(song(tmp_path / "song.mid", fmt=fmt))
    got = [(round(e.time_s, 6), e.command.action, e.command.args()) for e in events]
    assert got == [
        (0.25, "note_on", (60.0, 1.0)),
        (0.5, "bend_semitones", (1.0,)),
        (1.5, "note_off", (60.0,)),
        (1.5, "loudness_db", (-80.0 + 80.0 * 100 / 127,)),  # CC 7, as live MIDI maps it
        (1.5, "note_on", (67.0, 64 / 127)),
        (2.0, "note_off", (67.0,)),
    ]


def test_a_files_messages_do_what_the_same_messages_do_live(tmp_path: Path) -> None:
    """One mapping: every message in a file becomes the command live MIDI input makes of it."""
    messages = [
        mido.Message("note_on", note=61, velocity=90),
        mido.Message("control_change", control=11, value=64),
        mido.Message("control_change", control=1, value=127),
        mido.Message("control_change", control=74, value=30),
        mido.Message("control_change", control=20, value=5),  # unmapped: nothing
        mido.Message("pitchwheel", pitch=-8192),
        mido.Message("note_on", note=61, velocity=0),
        mido.Message("control_change", control=123, value=0),
    ]
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    for i, message in enumerate(messages):
        track.append(message.copy(time=0 if i == 0 else 96))  # 0.1 s apart at 120 bpm
    midi.tracks.append(track)
    midi.save(tmp_path / "cc.mid")
    from_file = [e.command for e in parse_midi_file(tmp_path / "cc.mid")]
    live = [c for c in map(midi_control, messages) if c is not None]
    assert from_file == live and len(live) == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text", "not a standard MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x02\x00\x01\x01\xe0", "format 2"),
        (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0", "announces 1 tracks, found 0"),
        (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x09\x00\x90", "truncated"),
        (
            b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x02\x00\x40",
            "without a status",
        ),
    ],
)
def test_bad_midi_files_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(ParameterError, match=message):
        parse_midi_file(path)
