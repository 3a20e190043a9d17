"""Scores for offline renders: timed events applied to an Engine at exact sample positions.

A JSON score is a list of notes: {"time": s, "duration": s, "note": MIDI number (float ok) or
a name such as "C4", "F#3", "Bb2" (C4 = 60), "velocity": 0..1 (optional), "loudness_db": dB
(optional), "timbre": preset (optional)}.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from core.errors import ParameterError, check_input_file
from realtime.commands import Command, NoteOff, NoteOn, SelectTimbre, SetParam
from realtime.params import SPECS


@dataclass(frozen=True)
class Event:
    time_s: float
    order: int  # ties: note-offs (0) before settings (1) before note-ons (2)
    command: Command

    def sort_key(self) -> tuple[float, int]:
        return (self.time_s, self.order)


def order_of(command: Command) -> int:
    """Where a command goes among others at the same time: note-offs first, note-ons last, so
    that a note ending where the next begins releases before the next one starts."""
    if isinstance(command, NoteOff):
        return 0
    return 2 if isinstance(command, NoteOn) else 1


MAX_SECONDS = 3600.0  # a render is held in memory whole: an hour at 48 kHz is 0.7 GB
KEYS = ("time", "duration", "note", "velocity", "loudness_db", "timbre")
# What a note's numbers may be (lowest, highest), both ends included.
RANGES = {
    "time": (0.0, MAX_SECONDS),
    "duration": (1e-3, MAX_SECONDS),
    "note": (0.0, 127.0),
    "velocity": (0.0, 1.0),
    "loudness_db": (SPECS["loudness_db"].low, SPECS["loudness_db"].high),
}
NOTE_NAME = re.compile(r"^([A-Ga-g])([#b]?)(-?\d+)$")
PITCH_CLASS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def note_number(name: str) -> float:
    """MIDI note number of a name: C4 = 60, A4 = 69, F#3 = 54, Bb2 = 46. ValueError if unknown."""
    match = NOTE_NAME.match(name.strip())
    if match is None:
        raise ValueError(f"{name!r} is not a note name like C4, F#3 or Bb2")
    letter, accidental, octave = match.groups()
    shift = {"#": 1, "b": -1, "": 0}[accidental]
    return float(12 * (int(octave) + 1) + PITCH_CLASS[letter.lower()] + shift)


def _number(where: str, note: dict, key: str, index: int, default: float | None = None) -> float:
    value = note.get(key, default)
    if value is None:
        raise ParameterError(f"{where}: note {index}: missing {key!r}")
    if key == "note" and isinstance(value, str):
        try:
            value = note_number(value)
        except ValueError as err:
            raise ParameterError(f"{where}: note {index}: {err}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{where}: note {index}: {key}={value!r} must be a finite number")
    low, high = RANGES.get(key, (-math.inf, math.inf))
    if not low <= value <= high:
        raise ParameterError(f"{where}: note {index}: {key} {value:g} must be in {low:g}..{high:g}")
    return float(value)


def parse_json_score(path: Path, presets: Collection[str] | None = None) -> list[Event]:
    """Events of a JSON note list; ParameterError naming the file and the note otherwise.

    presets: the model's timbre names, which a note's "timbre" must be one of (None: unchecked).
    """
    check_input_file(path)
    try:
        notes = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ParameterError(f"{path}: cannot read score ({err})") from None
    if not isinstance(notes, list) or not all(isinstance(n, dict) for n in notes):
        raise ParameterError(f"{path}: a score must be a JSON list of note objects")
    if not notes:
        raise ParameterError(f"{path}: the score holds no notes")
    events = []
    for i, note in enumerate(notes):
        unknown = sorted(set(note) - set(KEYS))
        if unknown:  # a misspelt key would otherwise be ignored without a word
            raise ParameterError(
                f"{path}: note {i}: unknown key {unknown[0]!r}; a note has {', '.join(KEYS)}"
            )
        start = _number(str(path), note, "time", i)
        duration = _number(str(path), note, "duration", i)
        if "loudness_db" in note:
            loud = _number(str(path), note, "loudness_db", i)
            events.append(Event(start, 1, SetParam("loudness_db", loud)))
        if "timbre" in note:
            if presets is not None and str(note["timbre"]) not in presets:
                raise ParameterError(
                    f"{path}: note {i}: unknown timbre {note['timbre']!r}; presets: "
                    f"{', '.join(presets)}"
                )
            events.append(Event(start, 1, SelectTimbre(str(note["timbre"]))))
        pitch = _number(str(path), note, "note", i)
        velocity = _number(str(path), note, "velocity", i, 1.0)
        events.append(Event(start, 2, NoteOn(pitch, velocity)))
        events.append(Event(start + duration, 0, NoteOff(pitch)))  # this note's own end
    return sorted(events, key=Event.sort_key)
