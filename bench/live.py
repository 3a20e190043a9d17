"""Live playback on a real PortAudio stream (a JACK dummy server, exact real-time pace).

For block sizes 32/64/128/256 at 48 kHz and both compute modes (engine in the callback, or a
producer thread with a 2-block ring), plays the demo model for a few seconds with a note held
and the NCA growing, in three conditions: idle, under an OSC flood (another process sending as
fast as it can to the real OSC server), and with the other core busy (a pure-Python loop in
another process). Prints callback time p50/p99/max as % of the block period and underflows.
Then measures control-to-sound latency at blocks 64 and 128: an OSC note-on from silence and an
OSC pitch change -> the first output sample each changes (the sample position at which the
engine applied it, from the recorder, plus the engine's latency for that control, minus the
position being played when the message was sent), plus the device buffer.

    python bench/live.py [--seconds 5] [--blocks 32,64,128,256] [--voices 1]
    python bench/live.py --effect --seconds 60 --blocks 64,128,256

With `--voices N` the engine has N voices and holds an N-note chord (all of them sounding).
With `--effect`, effect mode instead: input -> output latency through a JACK loop, pitch
following and underflows per block size (bench/effect.py, which also runs on its own).

Needs jackd (apt-get install jackd2); the bench starts its own server.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

RATE = 48000
SERVER = f"timbre-bench-{os.getpid()}"


def start_jack(period: int) -> subprocess.Popen:
    os.environ["JACK_DEFAULT_SERVER"] = SERVER
    os.environ["JACK_NO_AUDIO_RESERVATION"] = "1"
    command = ["jackd", "-n", SERVER, "-R", "-d", "dummy", "-r", str(RATE), "-p", str(period)]
    server = subprocess.Popen(
        [*command, "-C", "0", "-P", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    subprocess.run(["jack_wait", "-w", "-t", "10"], check=True, capture_output=True)
    return server


def reinitialise(sd: Any) -> None:
    """Restart PortAudio so that it sees the JACK server started since the last time."""
    sd._terminate()
    sd._initialize()


def stop_jack(jack: subprocess.Popen) -> None:
    import sounddevice as sd

    sd._terminate()  # PortAudio lets go of the server first
    jack.terminate()
    jack.wait()
    sd._initialize()


CHORD = (57.0, 60.0, 64.0, 67.0, 69.0, 72.0, 76.0, 79.0, 81.0, 84.0, 88.0, 91.0)
VOICES = 1  # set by --voices


def playing_setup(sd: Any, block: int, mode: str, *, held: bool = True) -> tuple[Any, Any, Any]:
    """A fresh PortAudio, the demo model's engine with VOICES notes held (none without `held`),
    its OSC server running and a player (not started yet): (engine, server, player)."""
    from realtime.commands import NoteOn
    from realtime.engine import Engine
    from realtime.model import load_model
    from realtime.osc_server import OscServer
    from realtime.player import LivePlayer
    from realtime.render_cli import demo_model_path

    reinitialise(sd)
    engine = Engine(load_model(demo_model_path()), sample_rate=RATE, voices=VOICES)
    for note in CHORD[:VOICES] if held else ():
        engine.apply(NoteOn(note, 1.0))
    server = OscServer(engine, port=0)
    server.start()
    return engine, server, LivePlayer(engine, blocksize=block, compute=mode)


def flood(port: int, stop: Any) -> None:
    from pythonosc.udp_client import SimpleUDPClient

    client = SimpleUDPClient("127.0.0.1", port)
    i = 0
    while not stop.is_set():
        client.send_message("/grow/bend", (i % 100) / 100.0)
        i += 1


def busy(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(10_000):
            x += 1


def play(block: int, mode: str, condition: str, seconds: float) -> dict[str, float]:
    import sounddevice as sd

    from realtime.commands import SetParam
    from realtime.live_cli import choose_device
    from realtime.player import StreamOptions

    engine, server, player = playing_setup(sd, block, mode)
    engine.apply(SetParam("nca_rate", 8.0))
    stop = multiprocessing.Event()
    helper = None
    if condition == "OSC flood":
        helper = multiprocessing.Process(target=flood, args=(server.port, stop))
    elif condition == "other core busy":
        helper = multiprocessing.Process(target=busy, args=(stop,))
    if helper is not None:
        helper.start()
        time.sleep(0.3)
    player.start(StreamOptions(device=choose_device(sd, None, "jack"), latency="low"))
    time.sleep(0.5)  # settle, then measure
    first_callback, first_underflows, received = (
        player.callbacks,
        player.underflows,
        server.received,
    )
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    n = player.callbacks - first_callback
    loads = 100 * player.recent_loads(n)
    underflows = player.underflows - first_underflows
    messages = (server.received - received) / elapsed
    stop.set()
    if helper is not None:
        helper.join()
    player.stop()
    server.stop()
    return {
        "p50": float(np.percentile(loads, 50)),
        "p99": float(np.percentile(loads, 99)),
        "max": float(loads.max()),
        "underflows": underflows,
        "msgs": messages,
    }


def control_latency(
    block: int, mode: str, kind: str, changes: int = 40
) -> tuple[float, float, float]:
    """(mean, max) ms from sending an OSC control to the first sample it changes, and the
    device buffer's latency in ms. kind "pitch": /grow/pitch on a held note; "note": /grow/note
    from silence (then /grow/note/off and a rest). The first changed sample is where the engine
    applied the message (its recorder) plus the engine's latency for that kind of control."""
    import sounddevice as sd
    from pythonosc.udp_client import SimpleUDPClient

    from realtime.commands import Command
    from realtime.live_cli import choose_device
    from realtime.player import StreamOptions

    engine, server, player = playing_setup(sd, block, mode, held=kind == "pitch")
    recorder: deque[tuple[int, Command]] = deque()
    engine.recorder = recorder
    player.start(StreamOptions(device=choose_device(sd, None, "jack"), latency="low"))
    client = SimpleUDPClient("127.0.0.1", server.port)
    rng = np.random.default_rng(0)
    time.sleep(0.3)
    delays = []
    for i in range(changes):
        time.sleep(0.05 + 0.05 * rng.random())
        sent = time.perf_counter()
        playing = player.played_at_last_callback + (sent - player.last_callback) * RATE
        if kind == "pitch":
            client.send_message("/grow/pitch", 200.0 + i)
        else:
            client.send_message("/grow/note", [60.0 + i % 12, 1.0])
        deadline = time.monotonic() + 1.0
        while not recorder and time.monotonic() < deadline:
            time.sleep(0.0005)
        position, command = recorder.popleft()
        heard = position + engine.latency_samples_of(command)
        delays.append((heard - playing) / RATE)  # both are absolute stream positions
        if kind == "note":
            time.sleep(0.05)
            client.send_message("/grow/note/off", [])
            time.sleep(0.4)  # the release ends
            recorder.clear()
    device = float(player.stream.latency)
    player.stop()
    server.stop()
    ms = 1000 * np.array(delays)
    return float(ms.mean()), float(ms.max()), 1000 * device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--blocks", default="32,64,128,256")
    parser.add_argument("--voices", type=int, default=1, choices=range(1, len(CHORD) + 1))
    parser.add_argument("--effect", action="store_true", help="effect mode (bench/effect.py)")
    args = parser.parse_args()
    if args.effect:
        from bench.effect import print_table

        print_table(args.seconds, [int(b) for b in args.blocks.split(",")], ["thread", "callback"])
        return
    global VOICES
    VOICES = args.voices
    blocks = [int(b) for b in args.blocks.split(",")]
    print(
        f"demo model, {VOICES} voice(s) sounding, 48 kHz, {args.seconds:g} s per row, JACK dummy "
        "server (period = block)"
    )
    print(
        f"{'block':>5} {'mode':>8} {'condition':>16} {'p50 %':>6} {'p99 %':>6} {'max %':>6} "
        f"{'xruns':>5} {'OSC msg/s':>9}"
    )
    for block in blocks:
        jack = start_jack(block)
        try:
            for mode in ("callback", "thread"):
                for condition in ("idle", "OSC flood", "other core busy"):
                    r = play(block, mode, condition, args.seconds)
                    print(
                        f"{block:5d} {mode:>8} {condition:>16} {r['p50']:6.1f} {r['p99']:6.1f} "
                        f"{r['max']:6.1f} {r['underflows']:5.0f} {r['msgs']:9.0f}",
                        flush=True,
                    )
        finally:
            stop_jack(jack)
    print()
    print("control-to-sound latency (OSC message -> first changed sample), 48 kHz")
    print(
        f"{'block':>5} {'control':>7} {'mode':>8} {'mean ms':>8} {'max ms':>7} {'+ device ms':>12}"
    )
    for block in (64, 128):
        jack = start_jack(block)
        try:
            for kind in ("note", "pitch"):
                for mode in ("callback", "thread"):
                    mean, worst, device = control_latency(block, mode, kind)
                    print(
                        f"{block:5d} {kind:>7} {mode:>8} {mean:8.1f} {worst:7.1f} {device:12.1f}",
                        flush=True,
                    )
        finally:
            stop_jack(jack)


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
