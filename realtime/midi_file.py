"""Standard MIDI files (format 0 and 1) as score events for `grow-render --score song.mid`.

The engine is monophonic: every channel and track is merged and the latest note wins (a note-off
releases only the sounding note). Note velocity maps to 0..1, pitch bend to +-2 semitones, the
tempo map (meta event 0x51) is followed, and SMPTE time division is supported. Everything else
(controllers, sysex, other meta events) is read past.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ParameterError, check_input_file
from realtime.score import Event

BEND_RANGE_SEMITONES = 2.0
DEFAULT_TEMPO_US = 500_000  # 120 beats per minute
DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


class _Reader:
    def __init__(self, data: bytes, where: str) -> None:
        self.data, self.at, self.where = data, 0, where

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise ParameterError(f"{self.where}: truncated at byte {self.at}")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def varlen(self) -> int:
        value = 0
        for _ in range(4):
            b = self.byte()
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                return value
        raise ParameterError(f"{self.where}: variable-length number longer than 4 bytes")


def _track_events(track: bytes, where: str) -> list[tuple[int, int, str, tuple]]:
    """(tick, order, action, args) of one track; action 'tempo' carries microseconds/beat."""
    r = _Reader(track, where)
    tick, status = 0, 0
    out: list[tuple[int, int, str, tuple]] = []
    while r.at < len(track):
        tick += r.varlen()
        first = r.byte()
        if first == 0xFF:  # meta event
            kind, length = r.byte(), r.varlen()
            body = r.take(length)
            if kind == 0x2F:
                break
            if kind == 0x51 and length == 3:
                out.append((tick, 1, "tempo", (int.from_bytes(body, "big"),)))
            continue
        if first in (0xF0, 0xF7):  # sysex
            r.take(r.varlen())
            continue
        if first & 0x80:
            status = first
            data = [r.byte() for _ in range(DATA_BYTES.get(status & 0xF0, 0))]
        elif status:  # running status: `first` is the first data byte
            data = [first] + [r.byte() for _ in range(DATA_BYTES[status & 0xF0] - 1)]
        else:
            raise ParameterError(f"{where}: data byte without a status at byte {r.at - 1}")
        if status & 0xF0 not in DATA_BYTES:
            raise ParameterError(f"{where}: unknown status byte {status:#04x} at byte {r.at}")
        kind = status & 0xF0
        if kind == 0x90 and data[1] > 0:
            out.append((tick, 2, "note_on", (float(data[0]), data[1] / 127.0)))
        elif kind in (0x80, 0x90):
            out.append((tick, 0, "note_off", (float(data[0]),)))
        elif kind == 0xE0:
            bend = ((data[1] << 7) | data[0]) - 8192
            out.append((tick, 1, "bend_semitones", (bend / 8192 * BEND_RANGE_SEMITONES,)))
    return out


def parse_midi_file(path: Path) -> list[Event]:
    """Events of a standard MIDI file; ParameterError naming the file and the problem."""
    check_input_file(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ParameterError(f"{path}: cannot read ({err.strerror})") from None
    r = _Reader(data, str(path))
    if data[:4] != b"MThd":
        raise ParameterError(f"{path}: not a standard MIDI file (no MThd header)")
    r.take(4)
    header = r.take(int.from_bytes(r.take(4), "big"))
    if len(header) < 6:
        raise ParameterError(f"{path}: MIDI header too short")
    fmt, n_tracks, division = (int.from_bytes(header[i : i + 2], "big") for i in (0, 2, 4))
    if fmt == 2:
        raise ParameterError(f"{path}: MIDI format 2 (independent sequences) is not supported")
    events: list[tuple[int, int, str, tuple]] = []
    for index in range(n_tracks):
        if r.at >= len(data):
            raise ParameterError(f"{path}: header announces {n_tracks} tracks, found {index}")
        kind, length = r.take(4), int.from_bytes(r.take(4), "big")
        body = r.take(length)
        if kind == b"MTrk":
            events += _track_events(body, f"{path} track {index}")
    events.sort(key=lambda e: (e[0], e[1]))
    if division & 0x8000:  # SMPTE: frames per second (negative byte) x ticks per frame
        fps = 256 - (division >> 8)
        seconds_per_tick = 1.0 / ((29.97 if fps == 29 else fps) * (division & 0xFF))
        return [Event(t * seconds_per_tick, o, a, args) for t, o, a, args in events if a != "tempo"]
    if division == 0:
        raise ParameterError(f"{path}: time division of 0 ticks per beat")
    out, last_tick, seconds, tempo = [], 0, 0.0, DEFAULT_TEMPO_US
    for tick, order, action, args in events:
        seconds += (tick - last_tick) * tempo / 1e6 / division
        last_tick = tick
        if action == "tempo":
            tempo = args[0] or DEFAULT_TEMPO_US
        else:
            out.append(Event(seconds, order, action, args))
    return out
