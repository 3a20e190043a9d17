"""MIDI input for `grow-live` (optional extra `midi`: mido + python-rtmidi).

Mapping (monophonic, every channel): note on/off with velocity (note on at velocity 0 is a note
off), pitch bend +-2 semitones, CC 11 (expression) and CC 7 (volume) -> loudness -80..0 dB,
CC 1 (mod wheel) -> mask blend 0..1, CC 74 -> NCA rate 0..100 steps/s, CC 123 (all notes off).
Messages are translated on mido's input thread and posted to the engine like OSC controls.
"""

from __future__ import annotations

from typing import Any

from core.errors import ParameterError
from realtime.engine import Engine
from realtime.midi_file import BEND_RANGE_SEMITONES
from realtime.params import SPECS

CC_PARAMETERS = {7: "loudness_db", 11: "loudness_db", 1: "mask_blend", 74: "nca_rate"}
# A pedal's travel over the musically useful part of a range (the loudness control reaches
# down to the features' -100 dB floor; below -80 dB everything is silence behind the gate).
CC_RANGES = {"loudness_db": (-80.0, 0.0)}


def midi_control(message: Any) -> tuple[str, tuple] | None:
    """The engine control for one mido message, or None for messages we do not map."""
    kind = message.type
    if kind == "note_on" and message.velocity > 0:
        return "note_on", (float(message.note), message.velocity / 127.0)
    if kind in ("note_on", "note_off"):
        return "note_off", (float(message.note),)
    if kind == "pitchwheel":
        return "bend_semitones", (message.pitch / 8192 * BEND_RANGE_SEMITONES,)
    if kind == "control_change":
        if message.control == 123:
            return "note_off", ()
        name = CC_PARAMETERS.get(message.control)
        if name is not None:
            spec = SPECS[name]
            low, high = CC_RANGES.get(name, (spec.low, spec.high))
            return name, (low + (high - low) * message.value / 127.0,)
    return None


def _mido() -> Any:
    try:
        import mido
    except ImportError:
        raise ParameterError(
            "MIDI input needs the midi extra: pip install 'timbre-grower[midi]'"
        ) from None
    return mido


def list_midi_ports() -> list[str]:
    try:
        return list(_mido().get_input_names())
    except Exception as err:  # rtmidi raises its own errors without ALSA sequencer
        raise ParameterError(f"cannot list MIDI ports ({err})") from None


class MidiInput:
    """Opens `port` (a name or a unique part of one) and posts its messages to `engine`."""

    def __init__(self, engine: Engine, port: str) -> None:
        names = list_midi_ports()
        matches = [n for n in names if n == port] or [n for n in names if port.lower() in n.lower()]
        if len(matches) != 1:
            found = ", ".join(names) or "none"
            what = "no MIDI input" if not matches else "several MIDI inputs"
            raise ParameterError(f"--midi-port {port!r}: {what} match (ports: {found})")
        self.engine = engine
        self.received = 0
        self.port = _mido().open_input(matches[0], callback=self._on_message)

    def _on_message(self, message: Any) -> None:
        self.received += 1
        control = midi_control(message)
        if control is not None:
            self.engine.post(*control)

    def close(self) -> None:
        self.port.close()
