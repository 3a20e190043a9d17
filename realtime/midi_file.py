"""Standard MIDI files (format 0 and 1) as score events for `grow-render --score song.mid`.

Every channel and track is merged into one stream of notes: overlapping notes play together on a
polyphonic engine (`--voices`), and on one voice the latest note wins (a note-off releases only
the sounding note). Channel messages map to commands as live MIDI input does
(realtime.midi_mapping: notes, pitch bend, the mapped controllers); the tempo map (meta event
0x51) is followed, and SMPTE time division is supported. Everything else (other controllers,
sysex, other meta events) is read past.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ParameterError, check_input_file
from realtime.commands import Command
from realtime.midi_mapping import DATA_BYTES, midi_command
from realtime.score import Event, order_of

DEFAULT_TEMPO_US = 500_000  # 120 beats per minute


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


# One track's events: (tick, order, command), or (tick, 1, microseconds per beat) for a tempo.
TrackEvent = tuple[int, int, Command | int]


def _track_events(track: bytes, where: str) -> list[TrackEvent]:
    """The events of one track, in file order."""
    r = _Reader(track, where)
    tick, status = 0, 0
    out: list[TrackEvent] = []
    while r.at < len(track):
        tick += r.varlen()
        first = r.byte()
        if first == 0xFF:  # meta event
            kind, length = r.byte(), r.varlen()
            body = r.take(length)
            if kind == 0x2F:
                break
            if kind == 0x51 and length == 3:
                out.append((tick, 1, int.from_bytes(body, "big")))
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
        if any(d > 127 for d in data):
            raise ParameterError(f"{where}: data byte above 127 at byte {r.at - 1}")
        command = midi_command(status, data)
        if command is not None:
            out.append((tick, order_of(command), command))
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
    events: list[TrackEvent] = []
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
        return [Event(t * seconds_per_tick, o, c) for t, o, c in events if not isinstance(c, int)]
    if division == 0:
        raise ParameterError(f"{path}: time division of 0 ticks per beat")
    out, last_tick, seconds, tempo = [], 0, 0.0, DEFAULT_TEMPO_US
    for tick, order, event in events:
        seconds += (tick - last_tick) * tempo / 1e6 / division
        last_tick = tick
        if isinstance(event, int):  # a tempo change
            tempo = event or DEFAULT_TEMPO_US
        else:
            out.append(Event(seconds, order, event))
    return out
