"""MIDI input for `grow-live` (optional extra `midi`: mido + python-rtmidi).

Messages are translated on mido's input thread by the mapping MIDI files share
(realtime.midi_mapping) and posted to the engine like OSC controls.
"""

from __future__ import annotations

from typing import Any

from core.errors import ParameterError
from realtime.commands import Command
from realtime.engine import Engine
from realtime.midi_mapping import midi_command


def midi_control(message: Any) -> Command | None:
    """The engine command for one mido message, or None for messages we do not map."""
    if message.is_meta or message.type == "sysex":
        return None
    status, *data = message.bytes()
    return midi_command(status, data)


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
        command = midi_control(message)
        if command is not None:
            self.engine.post(command)

    def close(self) -> None:
        self.port.close()
