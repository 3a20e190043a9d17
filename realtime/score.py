"""Scores for offline renders: timed events applied to an Engine at exact sample positions.

A JSON score is a list of notes: {"time": s, "duration": s, "note": midi (float ok),
"velocity": 0..1 (optional), "loudness_db": dB (optional), "timbre": preset (optional)}.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from export.errors import ParameterError


@dataclass(frozen=True)
class Event:
    time_s: float
    order: int  # ties: note-offs (0) before settings (1) before note-ons (2)
    action: str
    args: tuple

    def sort_key(self) -> tuple[float, int]:
        return (self.time_s, self.order)


def _number(note: dict, key: str, index: int, default: float | None = None) -> float:
    value = note.get(key, default)
    if value is None:
        raise ParameterError(f"score note {index}: missing {key!r}")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"score note {index}: {key}={value!r} must be a finite number")
    return float(value)


def parse_json_score(path: Path) -> list[Event]:
    """Events of a JSON note list; ParameterError naming the file and the note otherwise."""
    try:
        notes = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ParameterError(f"{path}: cannot read score ({err})") from None
    if not isinstance(notes, list) or not all(isinstance(n, dict) for n in notes):
        raise ParameterError(f"{path}: a score must be a JSON list of note objects")
    events = []
    for i, note in enumerate(notes):
        start = _number(note, "time", i)
        duration = _number(note, "duration", i)
        if start < 0 or duration <= 0:
            raise ParameterError(f"score note {i}: time must be >= 0 and duration > 0")
        if "loudness_db" in note:
            events.append(Event(start, 1, "loudness_db", (_number(note, "loudness_db", i),)))
        if "timbre" in note:
            events.append(Event(start, 1, "select_timbre", (str(note["timbre"]),)))
        pitch = _number(note, "note", i)
        velocity = _number(note, "velocity", i, 1.0)
        events.append(Event(start, 2, "note_on", (pitch, velocity)))
        events.append(Event(start + duration, 0, "note_off", ()))
    return sorted(events, key=Event.sort_key)
