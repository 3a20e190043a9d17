"""`grow-live [--model m.onnx]`: play a model through the sound card, steered over OSC and MIDI.

Everything is checked before a device opens: the model, the device, the rate, the block size,
the OSC port. Ctrl-C or SIGTERM fades out over 20 ms and exits 0; the recordings are completed.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.cli_help import command_parser
from core.errors import ParameterError, run_cli
from realtime.jack_io import CLIENT_NAME
from realtime.params import SPECS
from realtime.shared_options import (
    SHARED_RANGES,
    add_growth_and_gate,
    add_tracking_options,
    add_voices,
    check_ranges,
    param_range,
)
from realtime.voice import DEFAULT_VOICES

# What each numeric option accepts (realtime.shared_options.check_ranges).
OPTION_RANGES = {
    **SHARED_RANGES,
    "blocksize": (32, 2048, "samples"),
    "prefill": (1, 16, "blocks"),
    "nca_rate": param_range("nca_rate"),
    "osc_port": (0, 65535, "(0: any free port)"),
}
NO_SOUND_CARD_HINT = "apt-get install jackd2, then: jackd -d dummy -r 48000 -p 256 &"


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "grow-live",
        description="Play a model through the sound card in real time, steered over OSC (and "
        "MIDI with the midi extra), while the NCA grows its timbre live. Everything is checked "
        "before a device opens: the model, the device, the rate, the block size, the OSC port. "
        "The OSC namespace (addresses, units, ranges, defaults) is in docs/OSC.md. Ctrl-C or "
        "SIGTERM fades out and exits; recordings are completed. Without a sound card, start a "
        "JACK dummy server first: jackd -d dummy -r 48000 -p 256 & then grow-live --host-api jack.",
        examples=[
            "grow-live                                  # the demo model, OSC on 127.0.0.1:9000",
            "grow-live --model m.onnx --device USB --blocksize 64 --record-osc set.jsonl",
            "oscsend localhost 9000 /grow/note ff 69 0.8   # then, from another terminal",
        ],
        outputs="sound; with --record-osc a control log, with --record-wav what was played",
        next_step="grow-render --osc-log set.jsonl --out set.wav replays a recorded session",
    )
    p.add_argument("--model", type=Path, help="artifact from grow-export (default: demo model)")
    p.add_argument("--list-devices", action="store_true", help="list audio outputs and exit")
    p.add_argument("--device", help="output device: index or part of its name")
    p.add_argument(
        "--input-device",
        help="effect mode's input: index or part of its name (default: the "
        "output device when it has inputs, else the host's preferred input)",
    )
    p.add_argument("--host-api", help="audio host API (part of its name: alsa, jack, ...)")
    p.add_argument("--samplerate", type=int, help="Hz (default: the device's)")
    p.add_argument(
        "--blocksize",
        type=int,
        help="samples per callback, 32..2048 (default 128; with --jack the server's period)",
    )
    p.add_argument("--latency", default="low", help="'low', 'high' or seconds (PortAudio)")
    p.add_argument("--channels", type=int, help="output channels (default: up to 2)")
    p.add_argument(
        "--compute",
        choices=["callback", "thread"],
        default="thread",
        help="run the engine in a producer thread feeding a ring, or in the callback",
    )
    p.add_argument(
        "--prefill",
        type=int,
        help="thread mode: blocks kept ready ahead of the device, 1..16 (default: as many as "
        "cover 256 samples or two host buffers)",
    )
    effect = p.add_argument_group("effect mode")
    effect.add_argument(
        "--effect",
        action="store_true",
        help="play the model from live audio in (one voice following the input's pitch and "
        "loudness, tracked as it arrives); growth defaults to off",
    )
    add_tracking_options(effect, streaming_note="effect mode")
    jack = p.add_argument_group("JACK (extra: timbre-grower[jack])")
    jack.add_argument(
        "--jack",
        action="store_true",
        help=f"be a JACK client named {CLIENT_NAME!r} (ports in_1, out_1, out_2, midi_in) "
        "instead of opening a PortAudio device; the server sets the rate and the block",
    )
    jack.add_argument(
        "--jack-connect-in", default="", help="PORT[,PORT]: connect these outputs to in_1"
    )
    jack.add_argument(
        "--jack-connect-out", default="", help="PORT[,PORT]: connect out_1 (and out_2) to these"
    )
    osc = p.add_argument_group("OSC")
    osc.add_argument(
        "--osc-host", default="127.0.0.1", help="address to listen on (0.0.0.0: the network)"
    )
    osc.add_argument("--osc-port", type=int, default=9000, help="UDP port to listen on")
    osc.add_argument("--osc-allow", default="", help="comma-separated client IPs/networks")
    midi = p.add_argument_group("MIDI (extra: timbre-grower[midi])")
    midi.add_argument("--midi-port", help="MIDI input: name or part of it")
    midi.add_argument("--list-midi", action="store_true", help="list MIDI inputs and exit")
    rec = p.add_argument_group("recording")
    rec.add_argument("--record-osc", type=Path, help="control log for grow-render --osc-log")
    rec.add_argument("--record-wav", type=Path, help="write what was played (float WAV)")
    rec.add_argument(
        "--record-input",
        type=Path,
        help="effect mode: write the input the engine was fed (float WAV); grow-render --input "
        "FILE --tracker streaming renders the session again",
    )
    rec.add_argument("--force", action="store_true", help="overwrite existing recordings")
    start = p.add_argument_group("initial settings")
    start.add_argument("--timbre", help="timbre preset (default: the first)")
    start.add_argument(
        "--loudness",
        type=float,
        help=f"dB fed to the decoder (default {SPECS['loudness_db'].default:g})",
    )
    start.add_argument("--gain", type=float, default=0.0, help="master gain, dB")
    start.add_argument("--nca-rate", type=float, default=8.0, help="NCA steps per second")
    add_growth_and_gate(start, growth_default=None, default_note="free; off with --effect")
    add_voices(start, default_note=f"{DEFAULT_VOICES}; 1 with --effect")
    p.add_argument("--seed", type=int, default=0, help="noise and NCA randomness")
    p.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    p.add_argument("--quiet", action="store_true", help="no status line")
    p.add_argument(
        "--provider", choices=["cpu", "cuda"], default="cpu", help="onnxruntime provider"
    )
    return p


def import_sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as err:  # PortAudio missing
        raise ParameterError(
            f"cannot load PortAudio ({err}); install it: apt-get install libportaudio2"
        ) from None
    except ImportError:
        raise ParameterError(
            "grow-live needs sounddevice: pip install 'timbre-grower[live]'"
        ) from None
    return sd


def list_devices(sd: Any) -> str:
    apis = sd.query_hostapis()
    lines = []
    for index, dev in enumerate(sd.query_devices()):
        if dev["max_output_channels"] > 0 or dev["max_input_channels"] > 0:
            api = apis[dev["hostapi"]]["name"]
            lines.append(
                f"{index:3d}  {dev['name']}  [{api}]  {dev['max_input_channels']} in, "
                f"{dev['max_output_channels']} out, {dev['default_samplerate']:.0f} Hz"
            )
    return "\n".join(lines) or "no audio devices found"


def choose_device(sd: Any, device: str | None, host_api: str | None, kind: str = "output") -> int:
    """The `kind` ("output" or "input") device index for --device / --host-api (or
    --input-device); ParameterError naming the choices."""
    apis = sd.query_hostapis()
    devices = sd.query_devices()
    option = "--device" if kind == "output" else "--input-device"
    outputs = [i for i, d in enumerate(devices) if d[f"max_{kind}_channels"] > 0]
    if host_api is not None:
        chosen = [i for i, a in enumerate(apis) if host_api.lower() in a["name"].lower()]
        if not chosen:
            names = ", ".join(a["name"] for a in apis)
            hint = (
                "; PortAudio lists JACK only while a JACK server runs: start one (without a "
                f"sound card: {NO_SOUND_CARD_HINT}) and try again"
                if "jack" in host_api.lower()
                else ""
            )
            raise ParameterError(f"--host-api {host_api!r}: no such host API (have: {names}){hint}")
        outputs = [i for i in outputs if devices[i]["hostapi"] in chosen]
    if device is not None:
        if device.isdigit():
            if int(device) not in outputs:
                raise ParameterError(f"{option} {device}: no such {kind} device (--list-devices)")
            return int(device)
        named = [i for i in outputs if device.lower() in devices[i]["name"].lower()]
        if len(named) != 1:
            what = f"no {kind} device" if not named else f"several {kind} devices"
            raise ParameterError(f"{option} {device!r}: {what} match (see --list-devices)")
        return named[0]
    if host_api is None:
        default = sd.default.device[0 if kind == "input" else 1]
        if isinstance(default, int) and default in outputs:
            return default
    for i in outputs:  # the host API's default, else the first there is
        if apis[devices[i]["hostapi"]][f"default_{kind}_device"] == i:
            return i
    if outputs:
        return outputs[0]
    raise ParameterError(
        f"no audio {kind} device found (see --list-devices). Without a sound card, start a JACK "
        f"dummy server ({NO_SOUND_CARD_HINT}) and run grow-live --host-api jack"
    )


def check_numbers(args: argparse.Namespace) -> float | str:
    """Every numeric option checked; returns the latency as PortAudio takes it."""
    check_ranges(args, OPTION_RANGES)
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ParameterError(f"--seconds {args.seconds} must be a positive number")
    if args.latency in ("low", "high"):
        return str(args.latency)
    try:
        latency = float(args.latency)
    except ValueError:
        latency = -1.0
    if not (math.isfinite(latency) and 0 < latency <= 1):
        raise ParameterError(f"--latency {args.latency!r} must be 'low', 'high' or 0..1 seconds")
    return latency


def check_modes(args: argparse.Namespace) -> None:
    """Options that do not go together, named before anything opens."""
    if args.effect and args.voices not in (None, 1):
        raise ParameterError("--effect plays one voice (the input's pitch): leave out --voices")
    if args.effect and args.record_osc is not None:
        raise ParameterError(
            "--record-osc logs controls, but effect mode follows the input's audio, which a "
            "log cannot replay: record the input with --record-input (then grow-render --input "
            "FILE --tracker streaming renders it again) and what was played with --record-wav"
        )
    if args.jack:
        for option in ("device", "host_api", "samplerate", "channels", "input_device"):
            if getattr(args, option) is not None:
                flag = "--" + option.replace("_", "-")
                raise ParameterError(
                    f"{flag} chooses a PortAudio device; with --jack the JACK server sets the "
                    "device and the rate (route the ports with --jack-connect-in/-out)"
                )
    elif args.jack_connect_in or args.jack_connect_out:
        raise ParameterError("--jack-connect-in/-out need --jack")
    if not args.effect:
        effect_only = (
            "input_device",
            "f0_min",
            "f0_max",
            "mix",
            "pitch_shift",
            "loudness_offset",
            "record_input",
        )
        for option in effect_only:
            if getattr(args, option) is not None:
                raise ParameterError(f"--{option.replace('_', '-')} needs --effect")
    elif args.loudness is not None:
        raise ParameterError(
            "--loudness sets the notes' loudness; in effect mode the input's loudness plays "
            "(shift it with --loudness-offset)"
        )


def check_jack(args: argparse.Namespace, stream: Any) -> None:
    """The block size against the server's period; the ports to connect exist."""
    if args.blocksize is not None and args.blocksize != stream.blocksize:
        raise ParameterError(
            f"--blocksize {args.blocksize}: the JACK server's period is {stream.blocksize} "
            "samples; set it on the server (jackd -p N) and leave out --blocksize"
        )
    split = lambda text: [port.strip() for port in text.split(",") if port.strip()]  # noqa: E731
    stream.plan_connections(split(args.jack_connect_in), split(args.jack_connect_out))


def input_device(sd: Any, args: argparse.Namespace, output: int, rate: int) -> int:
    """Effect mode's input: --input-device, else the output device when it has inputs, else
    the host API's default input; checked at the rate."""
    if args.input_device is not None:
        device = choose_device(sd, args.input_device, args.host_api, kind="input")
    elif sd.query_devices(output)["max_input_channels"] > 0:
        device = output
    else:
        device = choose_device(sd, None, args.host_api, kind="input")
    try:
        sd.check_input_settings(device=device, samplerate=rate, channels=1)
    except Exception as err:
        name = sd.query_devices(device)["name"]
        raise ParameterError(f"{name} cannot record {rate} Hz ({err})") from None
    return device


def status_values(engine: Any, player: Any, server: Any) -> list:
    """The /grow/status reply: see docs/OSC.md."""
    voice = engine.voice
    loads = player.recent_loads(256)
    return [
        player.played / engine.sample_rate,  # time_s
        float(voice.current.f0_hz),
        engine.smoother.value("loudness_db"),
        int(engine.nca_step_count),
        engine.smoother.value("nca_rate"),
        engine.smoother.value("mask_blend"),
        int(player.underflows),
        float(100 * loads.max()) if loads.size else 0.0,
        int(server.accepted),
        int(server.rejected_total),
        int(voice.envelope.level > 0),
        int(engine.meta.in_trained_range(float(voice.current.f0_hz))),
    ]


def status_line(engine: Any, player: Any, server: Any, rate: float) -> str:
    loads = player.recent_loads(256)
    load = f"{100 * loads.mean():4.0f}% avg {100 * loads.max():4.0f}% max" if loads.size else "-"
    voice = engine.voice
    f0 = voice.current.f0_hz
    on = voice.envelope.level > 0
    outside = "" if not on or engine.meta.in_trained_range(f0) else " (outside the trained range)"
    sounding = "note on " if on else "silent  "
    return (
        f"load {load} | underflows {player.underflows} | voices {engine.sounding()}/"
        f"{len(engine.voices)} | {sounding} {f0:7.1f} Hz{outside} "
        f"{engine.smoother.value('loudness_db'):6.1f} dB | timbre {engine.timbre_name} | "
        f"growth {engine.growth}, blend {engine.smoother.value('mask_blend'):.2f}, NCA step "
        f"{engine.nca_step_count} @ {engine.smoother.value('nca_rate'):.1f}/s | "
        f"{texture_status(engine)}OSC {rate:5.0f} msg/s, {server.rejected_total} rejected"
    )


def texture_status(engine: Any) -> str:
    """The texture NCA's part of the status line ("" for a model without one)."""
    texture = engine.texture
    if texture is None:
        return ""
    late = f", {texture.late} late" if texture.late else ""
    return (
        f"texture {engine.smoother.value('texture_blend'):.2f}, step {texture.steps} @ "
        f"{engine.smoother.value('texture_rate'):.1f}/s{late} | "
    )


def run(args: argparse.Namespace) -> int:
    from core.outputs import check_output
    from realtime.commands import Command, SelectTimbre, SetGrowth, SetParam
    from realtime.control_log import ControlLogWriter
    from realtime.engine import Engine
    from realtime.jack_io import JackStream
    from realtime.midi_input import MidiInput, list_midi_ports
    from realtime.model import load_model
    from realtime.osc_server import OscServer, parse_allow_list
    from realtime.player import LivePlayer, StreamOptions
    from realtime.render_cli import demo_model_path
    from realtime.shared_options import effect_chain

    if args.list_midi:
        print("\n".join(list_midi_ports()) or "no MIDI inputs")
        return 0
    if args.list_devices:
        print(list_devices(import_sounddevice()))
        return 0
    latency = check_numbers(args)
    check_modes(args)
    voices = 1 if args.effect else args.voices or DEFAULT_VOICES
    growth = args.growth or ("off" if args.effect else "free")
    for out, option, suffixes in (
        (args.record_osc, "--record-osc", (".jsonl",)),
        (args.record_wav, "--record-wav", (".wav",)),
        (args.record_input, "--record-input", (".wav",)),
    ):
        if out is not None:
            check_output(out, option=option, suffixes=suffixes, force=args.force)
    recordings = [p for p in (args.record_wav, args.record_input) if p is not None]
    if len({p.resolve() for p in recordings}) < len(recordings):
        raise ParameterError("--record-wav and --record-input must be different files")
    allow = parse_allow_list(args.osc_allow)
    model_path = args.model or demo_model_path()
    model = load_model(model_path, provider=args.provider)
    options: StreamOptions | None = None
    jack_stream: JackStream | None = None
    if args.jack:
        jack_stream = JackStream()
        rate, blocksize, where = jack_stream.samplerate, jack_stream.blocksize, "JACK"
    else:
        sd = import_sounddevice()
        device = choose_device(sd, args.device, args.host_api)
        info = sd.query_devices(device)
        rate = args.samplerate or int(info["default_samplerate"])
        blocksize, where = args.blocksize or 128, info["name"]
        channels = args.channels or min(2, info["max_output_channels"])
        if not 1 <= channels <= info["max_output_channels"]:
            raise ParameterError(
                f"--channels {channels}: {info['name']} has {info['max_output_channels']} outputs"
            )
        try:
            sd.check_output_settings(device=device, samplerate=rate, channels=channels)
        except Exception as err:
            raise ParameterError(f"{info['name']} cannot play {rate} Hz ({err})") from None
        options = StreamOptions(device=device, latency=latency, channels=channels)
        if args.effect:
            options.input_device = input_device(sd, args, device, rate)
    try:
        if jack_stream is not None:
            check_jack(args, jack_stream)
        engine = Engine(model, sample_rate=rate, seed=args.seed, voices=voices, texture_thread=True)
        if args.timbre is not None and args.timbre not in engine.presets:
            raise ParameterError(
                f"unknown timbre {args.timbre!r}; presets: {', '.join(engine.presets)}"
            )
        chain = effect_chain(engine, args) if args.effect else None
        server = OscServer(engine, host=args.osc_host, port=args.osc_port, allow=allow)
    except BaseException:
        if jack_stream is not None:
            jack_stream.close()
        raise
    midi = MidiInput(engine, args.midi_port) if args.midi_port else None
    writer = None
    if args.record_osc is not None:
        from collections import deque

        engine.recorder = deque()
        writer = ControlLogWriter(
            args.record_osc, sample_rate=rate, seed=args.seed, voices=voices, model_path=model_path
        )
    # Initial settings go through the inbox too, so that a recording replays them.
    loudness = SPECS["loudness_db"].default if args.loudness is None else args.loudness
    initial: list[Command] = [
        *([] if args.effect else [SetParam("loudness_db", loudness)]),
        SetParam("gain_db", args.gain),
        SetParam("nca_rate", args.nca_rate),
        SetGrowth(growth),
        SetParam("gate_db", args.gate),
        *([SelectTimbre(args.timbre)] if args.timbre else []),
    ]
    for command in initial:
        engine.post(command)
    player = LivePlayer(
        engine,
        blocksize=blocksize,
        compute=args.compute,
        prefill=args.prefill,
        record_wav=args.record_wav,
        effect=chain,
        record_input=args.record_input,
    )
    server.status = lambda: status_values(engine, player, server)
    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if jack_stream is not None:
            jack_stream.attach(player)
            player.run_stream(jack_stream)
            where = f"JACK as {jack_stream.name}"
        else:
            assert options is not None
            player.start(options)
    except Exception as err:
        server.stop()
        if jack_stream is not None:
            jack_stream.close()
        if isinstance(err, ParameterError):  # (a recording that cannot be written, named)
            raise
        raise ParameterError(f"cannot open {where} at {rate} Hz ({err})") from None
    server.start()
    latency_ms = 1000 * (player.output_latency_s + player.latency_samples / rate)
    note_ms = 1000 * (player.output_latency_s + player.note_latency_samples / rate)
    mode = ""
    latency = f"latency {note_ms:.1f} ms (notes, pitch, gain; other controls {latency_ms:.1f} ms)"
    if chain is not None or note_ms == latency_ms:  # (effect mode; a model with a reverb)
        latency = f"latency {latency_ms:.1f} ms"
    if chain is not None:
        tracker = chain.tracker
        mode = (
            f"; effect mode, input to output (host input buffer not included; tracking "
            f"{tracker.f0_min_hz:.0f}..{tracker.f0_max_hz:.0f} Hz, pitch delay "
            f"{1000 * tracker.pitch_delay_s:.1f} ms, loudness delay "
            f"{1000 * tracker.loudness_delay_s:.1f} ms)"
        )
    print(
        f"grow-live: {model_path.name} on {where} at {rate} Hz, block {blocksize}, "
        f"{latency}{mode}; OSC on {args.osc_host}:{server.port}",
        file=sys.stderr,
    )
    tty = sys.stderr.isatty() and not args.quiet
    # On a terminal the status line is redrawn 4 times a second; into a log, a plain line every
    # 10 s. The OSC rate is counted over whole seconds (one message reads 1 msg/s, not 4).
    every_s = 0.25 if tty else 10.0
    started = last_shown = last_counted = time.monotonic()
    last_accepted, rate_msgs = 0, 0.0
    while not stop["now"]:
        time.sleep(0.05)
        now = time.monotonic()
        if writer is not None and engine.recorder is not None:
            writer.drain(engine.recorder)
        if args.seconds is not None and now - started >= args.seconds:
            break
        if jack_stream is not None and jack_stream.shutdown_reason is not None:
            print(f"\ngrow-live: JACK stopped: {jack_stream.shutdown_reason}", file=sys.stderr)
            break
        if now - last_counted >= 1.0:
            rate_msgs = (server.accepted - last_accepted) / (now - last_counted)
            last_counted, last_accepted = now, server.accepted
        if not args.quiet and now - last_shown >= every_s:
            last_shown = now
            line = status_line(engine, player, server, rate_msgs)
            if chain is not None:
                voicing = "voiced" if chain.voiced else "unvoiced"
                line += f" | input {chain.input_db:6.1f} dB {voicing}"
            print("\r" + line if tty else line, end="" if tty else "\n", file=sys.stderr)
    player.stop()
    server.stop()
    if midi is not None:
        midi.close()
    if writer is not None and engine.recorder is not None:
        writer.drain(engine.recorder)
        if player.fade_start is not None:
            writer.close(end=player.fade_start + player.fade.shape[0], fade=player.fade.shape[0])
        else:  # the stream ended without its fade
            writer.close(end=player.played, fade=0)
    if tty:
        print(file=sys.stderr)
    loads = player.recent_loads(4096)
    if player.record_overflows:
        print(
            f"grow-live: warning: {player.record_overflows} blocks missing from the recordings "
            "(the disk was too slow)",
            file=sys.stderr,
        )
    if player.underflows:
        first = player.underflow_at[: min(player.underflows, 16)] / rate
        print(
            f"grow-live: underflows at {', '.join(f'{t:.2f}' for t in first)} s "
            f"({player.underflows - player.ring_underflows} flagged by the host: the audio thread "
            f"ran late; {player.ring_underflows} with the engine's ring empty: the engine fell "
            "behind)",
            file=sys.stderr,
        )
    print(
        f"grow-live: played {player.played / rate:.1f} s, {player.underflows} underflows, "
        f"{player.errors} callback errors, callback load p99 "
        f"{100 * (float(sorted(loads)[int(0.99 * (len(loads) - 1))]) if loads.size else 0):.0f}%; "
        f"OSC {server.accepted} accepted, {server.rejected_total} rejected"
        + (
            f" ({', '.join(f'{k}: {v}' for k, v in server.rejected.items())})"
            if server.rejected
            else ""
        ),
        file=sys.stderr,
    )
    if chain is not None:
        print(
            f"grow-live: effect mode: {chain.frames} frames tracked; input blocks lost "
            f"{player.input_overflows} (no room), dropped {player.input_dropped} (after a stall, "
            f"to keep the latency); {engine.ignored} notes or tracked controls from OSC/MIDI "
            "ignored (the input owns them)",
            file=sys.stderr,
        )
    if engine.texture is not None:
        print(
            f"grow-live: texture NCA: {engine.texture.steps} steps, {engine.texture.late} late "
            "(dropped: the worker thread fell behind)",
            file=sys.stderr,
        )
    if jack_stream is not None and jack_stream.midi_events:
        print(
            f"grow-live: JACK MIDI: {jack_stream.midi_events} events, "
            f"{jack_stream.midi_ignored} ignored (not channel messages, or malformed)",
            file=sys.stderr,
        )
    for _, error in player.recording_errors:
        print(f"grow-live: error: recording not written, {error}", file=sys.stderr)
    failed = {path for path, _ in player.recording_errors}
    recorded = (args.record_wav, args.record_input, args.record_osc)
    written = [str(p) for p in recorded if p and p not in failed]
    if written:
        print(f"grow-live: wrote {', '.join(written)}", file=sys.stderr)
    if player.recording_errors:
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("grow-live", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
