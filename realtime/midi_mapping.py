"""One MIDI mapping for live input (realtime.midi_input) and MIDI files (realtime.midi_file):
channel messages -> engine commands, so that a .mid file's controllers do what the same
controllers do live.

Every channel: note on/off with velocity (note on at velocity 0 is a note off), pitch bend +-2
semitones, CC 11 (expression) and CC 7 (volume) -> loudness -80..0 dB, CC 1 (mod wheel) -> mask
blend 0..1, CC 74 -> NCA rate 0..100 steps/s, CC 123 (all notes off). Other messages map to
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from realtime.commands import Command, NoteOff, NoteOn, SetParam
from realtime.params import SPECS

BEND_RANGE_SEMITONES = 2.0
CC_PARAMETERS = {7: "loudness_db", 11: "loudness_db", 1: "mask_blend", 74: "nca_rate"}
ALL_NOTES_OFF = 123
# A pedal's travel over the musically useful part of a range (the loudness control reaches
# down to the features' -100 dB floor; below -80 dB everything is silence behind the gate).
CC_RANGES = {"loudness_db": (-80.0, 0.0)}
# Data bytes that follow each channel-message status (high nibble).
DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


def midi_command(status: int, data: Sequence[int]) -> Command | None:
    """The command for one channel message (status byte 0x80..0xEF and its data bytes, each
    0..127), or None for messages that map to nothing."""
    kind = status & 0xF0
    if not 0x80 <= status < 0xF0 or len(data) != DATA_BYTES[kind]:
        return None
    if kind == 0x90 and data[1] > 0:
        return NoteOn(float(data[0]), data[1] / 127.0)
    if kind in (0x80, 0x90):
        return NoteOff(float(data[0]))
    if kind == 0xE0:
        bend = ((data[1] << 7) | data[0]) - 8192
        return SetParam("bend_semitones", bend / 8192 * BEND_RANGE_SEMITONES)
    if kind == 0xB0:
        if data[0] == ALL_NOTES_OFF:
            return NoteOff()
        name = CC_PARAMETERS.get(data[0])
        if name is not None:
            spec = SPECS[name]
            low, high = CC_RANGES.get(name, (spec.low, spec.high))
            return SetParam(name, low + (high - low) * data[1] / 127.0)
    return None
