"""grow-live as a JACK client (`--jack`), with the JACK-Client package: audio ports `in_1`
(effect mode's input), `out_1` and `out_2` (the same mono signal), and a MIDI port `midi_in`
whose events are mapped as live MIDI is (realtime.midi_mapping). Any JACK patchbay (jack_connect,
QjackCtl, Carla, a DAW; PipeWire's JACK layer too) routes them.

JACK calls `_process` once per period on its real-time thread: it hands the player's
`render_block` the input port's buffer and copies the block to both outputs. The server sets the
rate and the period, so the engine is made at the server's rate and the block is the period. An
xrun the server reports counts as an underflow flagged by the host. JACK-Client wraps each port
buffer in a fresh numpy view every period (a small Python object, not sample memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import ParameterError
from realtime.midi_mapping import midi_command

CLIENT_NAME = "timbre-grower"
IN_PORT = "in_1"
OUT_PORTS = ("out_1", "out_2")
MIDI_PORT = "midi_in"
NO_SERVER_HINT = (
    "start one (without a sound card: JACK_NO_AUDIO_RESERVATION=1 jackd -d dummy -r 48000 "
    "-p 128 &), or run under PipeWire's JACK layer (pw-jack grow-live --jack)"
)


def import_jack() -> Any:
    try:
        import jack
    except OSError as err:  # libjack missing
        raise ParameterError(
            f"cannot load the JACK library ({err}); install it: apt-get install libjack-jackd2-0 "
            "(or pipewire-jack)"
        ) from None
    except ImportError:
        raise ParameterError(
            "--jack needs the JACK-Client package: pip install 'timbre-grower[jack]'"
        ) from None
    return jack


class JackStream:
    """One JACK client with its ports; the player's stream (latency, start, stop, close)."""

    def __init__(self, name: str = CLIENT_NAME) -> None:
        jack = import_jack()
        try:
            self.client = jack.Client(name, no_start_server=True)
        except jack.JackError as err:
            raise ParameterError(
                f"no JACK server to connect to ({err}): {NO_SERVER_HINT}"
            ) from None
        self.inport = self.client.inports.register(IN_PORT)
        self.outports = [self.client.outports.register(port) for port in OUT_PORTS]
        self.midi = self.client.midi_inports.register(MIDI_PORT)
        self.player: Any = None
        self.shutdown_reason: str | None = None  # set when the server goes away
        self.midi_events = 0  # MIDI events read from midi_in ...
        self.midi_ignored = 0  # ... of which malformed, or not channel messages
        self._late = False
        self._connect_in: list[str] = []
        self._connect_out: list[str] = []

    @property
    def name(self) -> str:
        """The client's name: CLIENT_NAME, or the server's unique variant of it."""
        return str(self.client.name)

    @property
    def samplerate(self) -> int:
        return int(self.client.samplerate)

    @property
    def blocksize(self) -> int:
        return int(self.client.blocksize)

    @property
    def latency(self) -> float:
        """JACK plays a period's output one period later: s."""
        return self.blocksize / self.samplerate

    def plan_connections(self, inputs: Sequence[str], outputs: Sequence[str]) -> None:
        """Ports to connect at start: `inputs` feed in_1; out_1 goes to outputs[0], out_2 to
        outputs[1] (or outputs[0] as well). ParameterError naming the ports there are."""
        if len(outputs) > len(OUT_PORTS):
            raise ParameterError(f"--jack-connect-out takes at most {len(OUT_PORTS)} ports")
        for names, direction, option in ((inputs, "output", "in"), (outputs, "input", "out")):
            for port in names:
                if port not in self._audio_ports(direction):
                    have = ", ".join(self._audio_ports(direction)) or "none"
                    raise ParameterError(
                        f"--jack-connect-{option} {port!r}: no such audio {direction} port "
                        f"(have: {have})"
                    )
        self._connect_in = list(inputs)
        self._connect_out = list(outputs)

    def _audio_ports(self, direction: str) -> list[str]:
        """Other clients' audio ports: "output" (sources) or "input" (destinations)."""
        ports = self.client.get_ports(is_audio=True, **{f"is_{direction}": True})
        return [p.name for p in ports if not p.name.startswith(f"{self.name}:")]

    def attach(self, player: Any) -> None:
        self.player = player
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.set_shutdown_callback(self._shutdown)

    def _process(self, frames: int) -> None:
        """JACK's process callback. Never raises: JACK-Client would stop calling it."""
        player = self.player
        try:
            self._read_midi()
            inp = self.inport.get_array() if player.effect is not None else None
            late, self._late = self._late, False
            mono = player.render_block(frames, inp, late=late)
            for port in self.outports:
                buffer = port.get_array()
                if mono is None:
                    buffer.fill(0.0)
                else:
                    buffer[:] = mono
        except Exception:
            player.errors += 1
            for port in self.outports:
                port.get_array().fill(0.0)

    def _read_midi(self) -> None:
        """This period's MIDI events -> engine commands (posted); malformed ones are counted."""
        for _, data in self.midi.incoming_midi_events():
            self.midi_events += 1
            message = bytes(data)  # (a cffi buffer: indexing it gives bytes, not ints)
            if not 1 < len(message) <= 3 or any(byte > 0x7F for byte in message[1:]):
                self.midi_ignored += 1  # system messages, running status, bad data bytes
                continue
            command = midi_command(message[0], message[1:])
            if command is not None:
                self.player.engine.post(command)

    def _xrun(self, delay_usecs: float) -> None:
        self._late = True

    def _shutdown(self, status: Any, reason: str) -> None:
        self.shutdown_reason = reason or "the JACK server shut down"

    def start(self) -> None:
        self.client.activate()
        mine = f"{self.name}:"
        for port in self._connect_in:
            self.client.connect(port, mine + IN_PORT)
        targets = self._connect_out
        for i, out in enumerate(OUT_PORTS if targets else ()):
            self.client.connect(mine + out, targets[min(i, len(targets) - 1)])

    def stop(self) -> None:
        self.client.deactivate()

    def close(self) -> None:
        self.client.close()
