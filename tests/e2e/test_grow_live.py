"""`grow-live` on a real PortAudio stream (48 kHz, blocks of 128, on a JACK dummy server)
steered by real UDP OSC clients (python-osc and liblo's oscsend), recorded, measured and replayed.

The JACK server is started here under its own name, with a 256-sample period as in
ENVIRONMENT.md's recipe (PortAudio calls the callback twice per period). On these 2-core VMs the
server reports an occasional xrun even for an empty callback (measured: about one per 30-60 s,
from scheduling stalls), and a freshly started VM goes through minutes where stalls of tens of
milliseconds are frequent (measured right after `.ci/install`: underflows in six performances in
a row, none in the next ten with the same code; and a CI run where the hypervisor stole 1.4-2.1
CPU s of every 16 and all three plays underflowed, while this machine played the same commit
clean four times in four). So these tests run last in a session (tests/conftest.py) and the
performance is played up to five times; underflows in all five fail. Each failed play reports
the CPU time the hypervisor stole meanwhile (/proc/stat) and the processes that used the most CPU,
to tell a slow engine from a busy host; grow-live says which underflows the host flagged and
which came from the engine's ring running dry. Without jackd the tests skip, except where
TIMBRE_REQUIRE_JACK=1 (CI sets it, so there they fail instead).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from tests.jack_loop import jack_server

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jack_env() -> Iterator[dict[str, str]]:
    with jack_server(256) as env:
        yield env


PLAYS = 5  # performances tried before underflows fail the test (see the module's docstring)


def stolen_cpu_seconds() -> float:
    """CPU time the hypervisor has taken from this VM since boot (the 'steal' column of
    /proc/stat, all CPUs), seconds; 0.0 where the kernel does not report it."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_seconds_by_process() -> dict[str, float]:
    """CPU time (user + system) of every process now running, seconds, keyed 'pid name'."""
    tick, seconds = os.sysconf("SC_CLK_TCK"), {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.find("(") + 1 : text.rfind(")")], text[text.rfind(")") + 2 :]
        utime, stime = fields.split()[11:13]
        seconds[f"{stat.parent.name} {name}"] = (int(utime) + int(stime)) / tick
    return seconds


def busiest_since(before: dict[str, float], n: int = 4) -> str:
    """The n processes that used the most CPU since `before` (cpu_seconds_by_process())."""
    used = {k: v - before.get(k, 0.0) for k, v in cpu_seconds_by_process().items()}
    top = sorted(used.items(), key=lambda item: -item[1])[:n]
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in top)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Live:
    """A grow-live process on the JACK server, with its OSC port."""

    def __init__(self, env: dict[str, str], *args: str, seconds: float) -> None:
        self.port = free_port()
        command = [str(BIN / "grow-live"), "--host-api", "jack", "--blocksize", "128"]
        command += ["--osc-port", str(self.port), "--seconds", str(seconds), *args]
        self.process = subprocess.Popen(
            command, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stderr is not None
        first = self.process.stderr.readline()  # printed once the stream runs
        assert "OSC on" in first, first + self.process.stderr.read()
        self.start_line = first
        self.started = time.monotonic()
        self.client = SimpleUDPClient("127.0.0.1", self.port)

    def at(self, t: float) -> None:
        """Sleep until t seconds after the stream started."""
        time.sleep(max(0.0, self.started + t - time.monotonic()))

    def status(self) -> tuple[float, list]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2.0)
            s.sendto(b"/grow/status\x00\x00\x00\x00,\x00\x00\x00", ("127.0.0.1", self.port))
            reply = OscMessage(s.recv(4096))
            return time.monotonic(), list(reply.params)

    def finish(self) -> str:
        _, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err
        return err


def median_pitch(audio: np.ndarray, rate: int) -> float:
    import librosa

    f0 = librosa.yin(audio, fmin=100, fmax=1500, sr=rate, frame_length=4096)
    return float(np.median(f0))


def perform(jack_env: dict[str, str], wav: Path, log: Path) -> tuple[list, list, float, str]:
    """Notes, a bend, a note from oscsend, an NCA rate; status at 4.5 s and 7 s. One voice
    (legato: each note takes over the last, so the pitch of each stretch is one note's; the
    other tests here play the default eight)."""
    args = ("--voices", "1", "--record-wav", str(wav), "--record-osc", str(log))
    live = Live(jack_env, *args, seconds=8)
    live.at(0.5)
    live.client.send_message("/grow/note", [57.0, 0.9])  # A3, 220 Hz
    live.at(2.0)
    live.client.send_message("/grow/note", [64.0, 0.9])  # E4
    live.at(3.0)
    live.client.send_message("/grow/bend", 2.0)  # -> F#4
    live.at(4.0)
    subprocess.run(
        ["oscsend", "localhost", str(live.port), "/grow/note", "ff", "69", "1"], check=True
    )
    live.client.send_message("/grow/bend", 0.0)
    live.client.send_message("/grow/nca/rate", 20.0)
    live.at(4.5)
    t1, first = live.status()
    live.at(7.0)
    t2, second = live.status()
    return first, second, t2 - t1, live.finish()


def test_a_performance_is_played_recorded_and_replayed(
    jack_env: dict[str, str], tmp_path: Path
) -> None:
    wav, log = tmp_path / "played.wav", tmp_path / "session.jsonl"
    for attempt in range(1, PLAYS + 1):
        stolen, cpu = stolen_cpu_seconds(), cpu_seconds_by_process()
        first, second, seconds, err = perform(jack_env, wav, log)
        clean = second[6] == 0 and " 0 underflows, 0 callback errors" in err  # at 7 s, at the end
        if clean or attempt == PLAYS:
            break
        stolen = stolen_cpu_seconds() - stolen
        print(f"play {attempt}: underflows (host stole {stolen:.2f} CPU s meanwhile; ", end="")
        print(f"busiest: {busiest_since(cpu)}): {err}")
        for path in (wav, log):
            path.unlink()
    assert len(second) == 12
    # cadence: samples played follow the wall clock; the NCA steps at the rate set
    assert (second[0] - first[0]) / seconds == pytest.approx(1.0, rel=0.05)
    assert (second[3] - first[3]) / (second[0] - first[0]) == pytest.approx(20.0, rel=0.15)
    assert second[6] == 0, err  # underflows
    assert " 0 underflows, 0 callback errors" in err
    # what was played follows the notes: the log says at which sample each one took effect
    audio, rate = sf.read(wav, dtype="float32")
    controls = [json.loads(line) for line in log.read_text().splitlines()[1:-1]]
    onsets = [c["pos"] for c in controls if c["action"] in ("note_on", "bend_semitones")]
    assert len(onsets) == 5  # three notes, two bends
    expected_hz = [220.0, 329.63, 369.99, 440.0]
    for start, hz in zip([onsets[0], onsets[1], onsets[2], onsets[4]], expected_hz, strict=True):
        segment = audio[start + rate // 5 : start + rate // 5 + rate // 2]
        cents = 1200 * np.log2(median_pitch(segment, rate) / hz)
        assert abs(cents) < 15, (onsets, start, hz, cents)
    # record then replay: the same samples
    replay = tmp_path / "replay.wav"
    render = [str(BIN / "grow-render"), "--osc-log", str(log), "--out", str(replay)]
    done = subprocess.run([*render, "--format", "float"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    again, _ = sf.read(replay, dtype="float32")
    assert np.abs(again).max() > 0.05
    assert np.abs(audio[: again.shape[0]] - again).max() <= 1e-6


def test_hostile_input_while_playing(jack_env: dict[str, str], tmp_path: Path) -> None:
    wav = tmp_path / "played.wav"
    live = Live(jack_env, "--record-wav", str(wav), seconds=6)
    # the start line: notes, pitch and gain from the next block, the rest one frame (10 ms) later
    found = re.search(
        r"latency ([\d.]+) ms \(notes, pitch, gain; other controls ([\d.]+) ms", live.start_line
    )
    assert found, live.start_line
    assert abs(float(found[2]) - float(found[1]) - 10.0) <= 0.15
    live.client.send_message("/grow/note", [57.0, 1.0])
    live.at(1.0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", live.port)
    rng = np.random.default_rng(0)
    hostile = [
        b"\x00\x01\x02",
        b"/grow/pitch\x00,f\x00\x00\x7f\xc0\x00\x00",  # NaN
        b"/grow/pitch\x00,f\x00\x00\x7f\x80\x00\x00",  # inf
        b"/grow/pitch\x00,s\x00\x00high",  # unterminated string
        b"/grow/gain\x00\x00,i\x00\x00\x7f\xff\xff\xff",  # huge: clamped
        b"#bundle\x00" + b"\x00" * 8 + b"\x7f\xff\xff\xff",
        b"/" + b"z" * 3000 + b"\x00\x00\x00",
        b"/grow/unknown\x00\x00\x00,\x00\x00\x00",
    ]
    sent, start = 0, time.monotonic()
    while time.monotonic() - start < 2.0:  # a flood: random bytes, hostile and valid messages
        sock.sendto(hostile[sent % len(hostile)], target)
        sock.sendto(rng.integers(0, 256, 32, dtype=np.uint8).tobytes(), target)
        live.client.send_message("/grow/loudness", -15.0)
        sent += 1
    live.at(3.5)  # UDP: the kernel drops what arrives while the socket's buffer is full
    live.client.send_message("/grow/gain", 0.0)
    live.client.send_message("/grow/note", [57.0, 0.0])  # A3 off (eight voices: it would stay)
    live.client.send_message("/grow/note", [64.0, 1.0])
    live.at(4.5)
    _, status = live.status()
    err = live.finish()
    assert sent > 2000
    assert status[9] > 2000  # rejected and counted
    assert status[8] > 1000  # the valid ones of the flood went through
    assert "callback errors" in err and " 0 callback errors" in err
    audio, rate = sf.read(wav, dtype="float32")
    assert audio.shape[0] == pytest.approx(6 * rate, rel=0.05)  # it kept playing in real time
    tail = audio[int(4.0 * rate) : int(4.6 * rate)]  # the valid note after the flood
    assert abs(1200 * np.log2(median_pitch(tail, rate) / 329.63)) < 15


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--device", "no such card"), "--device 'no such card': no output device match"),
        (("--device", "99"), "--device 99: no such output device"),
        (("--samplerate", "12345"), "cannot play 12345 Hz"),
        (("--blocksize", "16"), "--blocksize 16 must be in 32..2048"),
        (("--model", "missing.onnx"), "missing.onnx: no such file"),
        (("--record-wav", "take.mp3"), "--record-wav take.mp3 must end in .wav"),
        (("--host-api", "asio"), "--host-api 'asio': no such host API"),
        (("--latency", "soon"), "--latency 'soon' must be"),
        (("--osc-allow", "my-laptop"), "'my-laptop' is not an IP address"),
        (("--osc-port", "PORT_IN_USE"), "cannot listen for OSC on 127.0.0.1:"),
        (("--nca-rate", "-4"), "--nca-rate -4 must be in 0..100 steps/s"),
        (("--loudness", "40"), "--loudness 40 must be in -100..0 dB"),
        (("--seed", "-1"), "--seed -1 must be in 0.."),
    ],
)
def test_bad_command_lines_are_named(
    jack_env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = str(busy.getsockname()[1])
        command = [str(BIN / "grow-live"), "--seconds", "1"]
        command += [port if a == "PORT_IN_USE" else a for a in args]
        done = subprocess.run(command, env=jack_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_list_devices_shows_the_jack_output(jack_env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(BIN / "grow-live"), "--list-devices"], env=jack_env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "JACK Audio Connection Kit" in done.stdout


def test_sigterm_fades_out_and_completes_the_recordings(
    jack_env: dict[str, str], tmp_path: Path
) -> None:
    wav, log = tmp_path / "played.wav", tmp_path / "session.jsonl"
    live = Live(jack_env, "--record-wav", str(wav), "--record-osc", str(log), seconds=60)
    live.client.send_message("/grow/note", [60.0, 1.0])
    live.at(1.5)
    live.process.send_signal(signal.SIGTERM)
    err = live.finish()  # exit status 0, within seconds, not after 60 s
    assert "played 1." in err or "played 2." in err, err
    audio, _ = sf.read(wav, dtype="float32")
    footer = json.loads(log.read_text().splitlines()[-1])
    assert footer["fade"] == 960 and audio.shape[0] >= footer["end"]
    end = footer["end"]
    assert np.abs(audio[end - 3000 : end - 960]).max() > 0.05  # sounding until the fade
    assert np.all(audio[end - 1 :] == 0.0)  # silent at the end of the fade, no click after
    steps = np.abs(np.diff(audio[end - 1000 : end + 1]))
    assert steps.max() < 2 * np.abs(np.diff(audio[end - 3000 : end - 1000])).max()


def test_without_a_jack_server_the_error_says_what_to_start(tmp_path: Path) -> None:
    """No JACK server runs under this name and the machine has no sound card: the message says
    how to start a dummy server (PortAudio lists JACK only while one runs)."""
    env = {
        **os.environ,
        "JACK_DEFAULT_SERVER": f"nobody-{os.getpid()}",
        "JACK_NO_START_SERVER": "1",  # never let libjack start one on its own
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [str(BIN / "grow-live"), "--host-api", "jack", "--seconds", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "jackd -d dummy -r 48000 -p 256" in done.stderr and "Traceback" not in done.stderr


def test_recordings_are_checked_before_any_device(tmp_path: Path) -> None:
    """A recording that could not be written is refused first, even without a sound card."""
    missing = tmp_path / "no" / "take.wav"
    env = {**os.environ, "JACK_NO_START_SERVER": "1", "HOME": str(tmp_path)}
    done = subprocess.run(
        [str(BIN / "grow-live"), "--record-wav", str(missing), "--seconds", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"--record-wav {missing}: folder {missing.parent} does not exist" in done.stderr
    assert not missing.parent.exists()


def test_the_texture_is_played_steered_and_replayed(
    jack_env: dict[str, str], tmp_path: Path, exported_texture: tuple
) -> None:
    """A model with a texture NCA, switched to it, grown, damaged and reseeded over OSC while
    it plays; its steps run on the worker thread, and the take replays sample for sample (a
    worker that kept up takes exactly the steps a render takes)."""
    model = str(exported_texture[1])
    wav, log = tmp_path / "texture.wav", tmp_path / "texture.jsonl"
    for attempt in range(1, PLAYS + 1):
        live = Live(
            jack_env, "--model", model, "--record-wav", str(wav), "--record-osc", str(log),
            seconds=4,
        )  # fmt: skip
        live.at(0.3)
        live.client.send_message("/grow/texture/rate", 30.0)
        live.client.send_message("/grow/texture/blend", 1.0)
        live.client.send_message("/grow/note", [64.0, 0.9])
        live.at(1.8)
        live.client.send_message("/grow/texture/perturb", [0.0, 0.5, 1, 20])
        live.at(2.6)
        live.client.send_message("/grow/texture/reset", [])
        err = live.finish()
        steps = re.search(r"texture NCA: (\d+) steps, (\d+) late", err)
        assert steps, err
        clean = steps[2] == "0" and " 0 underflows, 0 callback errors" in err
        if clean or attempt == PLAYS:
            break
        print(f"play {attempt}: {err}")
        for path in (wav, log):
            path.unlink()
    assert steps is not None and steps[2] == "0", err
    assert int(steps[1]) >= 20  # 30 steps/s from 0.3 s on, reseeded at 2.6 s
    actions = [json.loads(line)["action"] for line in log.read_text().splitlines()[1:-1]]
    assert "texture_perturb" in actions and "texture_reset" in actions
    audio, rate = sf.read(wav, dtype="float32")
    assert audio.shape[0] == pytest.approx(4 * rate, rel=0.05)
    replay = tmp_path / "replay.wav"
    render = [str(BIN / "grow-render"), "--model", model, "--osc-log", str(log)]
    done = subprocess.run(
        [*render, "--out", str(replay), "--format", "float"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    again, _ = sf.read(replay, dtype="float32")
    assert np.abs(again).max() > 0.01
    assert np.abs(audio[: again.shape[0]] - again).max() <= 1e-6
