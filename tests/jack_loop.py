"""JACK helpers for the tests and bench/effect.py: a dummy server under its own name; a JACK
client that plays a recording into another client's port while recording what it sent and what
comes back, both on the same period clock (so an input-to-output latency can be read off the two
tracks); a grow-live --jack session wired to it; and the measures taken of the two tracks.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest


@contextmanager
def jack_server(period: int, *, rate: int = 48000, capture: int = 0) -> Iterator[dict[str, str]]:
    """A JACK dummy server (its own name, `period` samples, `capture` system inputs); yields
    the environment that reaches it. Without jackd: skip, or fail where TIMBRE_REQUIRE_JACK=1
    (CI)."""
    if shutil.which("jackd") is None:
        if os.environ.get("TIMBRE_REQUIRE_JACK") == "1":
            pytest.fail("jackd not found but TIMBRE_REQUIRE_JACK=1 (apt-get install jackd2)")
        pytest.skip("jackd not installed")
    name = f"timbre-test-{os.getpid()}-{period}-{capture}"
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1"}
    dummy = ["-d", "dummy", "-r", str(rate), "-p", str(period), "-C", str(capture), "-P", "2"]
    server = subprocess.Popen(
        ["jackd", "-n", name, "-R", *dummy],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        subprocess.run(["jack_wait", "-w", "-t", "10"], env=env, check=True, capture_output=True)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)


class PlayAndRecord:
    """A JACK client `tester` with an output `send` and an input `back`: once `go()` is called
    it plays `signal` out of `send` and records `send` and `back` side by side, as long as the
    signal lasts. With `midi` [(sample, message bytes)], a MIDI output `midi`
    sends each message at its sample. Connect the ports with `connect`."""

    def __init__(
        self, server: str, signal: np.ndarray, midi: Sequence[tuple[int, bytes]] = ()
    ) -> None:
        import jack

        self.client = jack.Client("tester", no_start_server=True, servername=server)
        self.rate = int(self.client.samplerate)
        self.send = self.client.outports.register("send")
        self.back = self.client.inports.register("back")
        self.midi = sorted(midi)
        self.midi_port = self.client.midi_outports.register("midi") if midi else None
        self.signal = signal.astype(np.float32)
        total = signal.shape[0]
        self.sent = np.zeros(total, np.float32)
        self.received = np.zeros(total, np.float32)
        self.pos = 0
        self.xruns = 0
        self.playing = False
        self.done = threading.Event()
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, delay: float) -> None:
        self.xruns += 1

    def _process(self, frames: int) -> None:
        out = self.send.get_array()
        out.fill(0.0)
        if self.midi_port is not None:
            self.midi_port.clear_buffer()
        if not self.playing or self.pos >= self.sent.shape[0]:
            return
        n = min(frames, self.sent.shape[0] - self.pos)
        start = self.pos
        while self.midi and self.midi_port is not None and self.midi[0][0] < start + frames:
            at, message = self.midi.pop(0)
            self.midi_port.write_midi_event(max(0, at - start), message)
        chunk = self.signal[start : start + n]
        out[: chunk.shape[0]] = chunk
        self.sent[start : start + n] = out[:n]
        self.received[start : start + n] = self.back.get_array()[:n]
        self.pos += n
        if self.pos >= self.sent.shape[0]:
            self.done.set()

    def connect(self, source: str, destination: str) -> None:
        self.client.connect(source, destination)

    def go(self, timeout: float) -> None:
        """Play and record; returns when the recording is full (or after timeout s)."""
        self.playing = True
        self.done.wait(timeout)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def wait_for_port(server: str, name: str, timeout: float = 30.0) -> bool:
    """Whether port `name` appeared on the server within timeout s."""
    import jack

    client = jack.Client("port-watch", no_start_server=True, servername=server)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.name == name for p in client.get_ports()):
                return True
            time.sleep(0.1)
        return False
    finally:
        client.close()


def live_session(
    env: dict[str, str],
    signal_in: np.ndarray,
    *options: str,
    midi: Sequence[tuple[int, bytes]] = (),
    tries: int = 3,
) -> tuple[PlayAndRecord, str]:
    """Start `grow-live --jack` (with `options`; its outputs connected to the tester's `back`),
    play `signal_in` (and `midi` into midi_in) and record. A play that underflowed (the tester
    saw an xrun, or grow-live counted an underflow: on these VMs, host stalls, as
    tests/e2e/test_grow_live.py's docstring measures) is tried again, up to `tries` plays.
    Returns the tester (its `sent` and `received` tracks) and grow-live's stderr."""
    for attempt in range(tries):
        tester, stderr = _one_session(env, signal_in, options, midi)
        clean = tester.xruns == 0 and re.search(r"played [\d.]+ s, 0 underflows", stderr)
        if clean or attempt == tries - 1:
            break
    return tester, stderr


def _one_session(
    env: dict[str, str],
    signal_in: np.ndarray,
    options: Sequence[str],
    midi: Sequence[tuple[int, bytes]],
) -> tuple[PlayAndRecord, str]:
    server = env["JACK_DEFAULT_SERVER"]
    tester = PlayAndRecord(server, signal_in, midi=midi)
    command = [
        str(Path(sys.executable).parent / "grow-live"),
        "--jack",
        "--quiet",
        "--osc-port",
        "0",
        "--seconds",
        str(signal_in.shape[0] / tester.rate + 60),
        "--jack-connect-out",
        "tester:back",
        *options,
    ]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_port(server, "timbre-grower:out_2"), "grow-live's ports never appeared"
        deadline = time.monotonic() + 30
        while not tester.client.get_all_connections("tester:back"):
            assert time.monotonic() < deadline, "grow-live never connected its outputs"
            time.sleep(0.05)
        if midi:
            tester.connect("tester:midi", "timbre-grower:midi_in")
        time.sleep(0.5)  # the engine primed and running
        tester.go(timeout=signal_in.shape[0] / tester.rate + 20)
    finally:
        proc.send_signal(signal.SIGINT)
        stderr = proc.communicate(timeout=30)[1]
        tester.close()
    assert proc.returncode == 0, stderr
    return tester, stderr


def reported_latency_s(stderr: str) -> float:
    """The input-to-output latency grow-live printed at start, s."""
    found = re.search(r"latency ([\d.]+) ms", stderr)
    assert found is not None, stderr
    return float(found.group(1)) / 1000


def onset_latencies(sent: np.ndarray, received: np.ndarray, onsets: Sequence[int]) -> np.ndarray:
    """For each onset of `sent` (the sample where it starts after silence): samples until the
    first nonzero sample of `received` at or after it."""
    found = []
    for onset in onsets:
        start = onset + int(np.argmax(np.abs(sent[onset:]) > 1e-3))  # above -60 dBFS
        found.append(int(np.argmax(received[onset:] != 0)) + onset - start)
    return np.asarray(found)


def yin_hz(audio: np.ndarray, rate: int) -> np.ndarray:
    """librosa's YIN f0 per 10 ms, Hz."""
    import librosa

    hop = rate // 100
    return librosa.yin(audio, fmin=100, fmax=1500, sr=rate, frame_length=2048, hop_length=hop)


def pyin_voiced(audio: np.ndarray, rate: int) -> np.ndarray:
    """librosa's pYIN voicing per 10 ms (at 24 kHz)."""
    import librosa

    low = librosa.resample(audio, orig_sr=rate, target_sr=24000)
    _, flags, _ = librosa.pyin(
        low, fmin=100, fmax=1500, sr=24000, frame_length=1024, hop_length=240
    )
    return np.asarray(flags)


def pitch_error_cents(
    sent: np.ndarray, received: np.ndarray, *, rate: int, lag_s: float
) -> np.ndarray:
    """|cents| between the output's pitch `lag_s` later and the input's, per 10 ms frame
    voiced in both (YIN values, pYIN voicing)."""
    lag = round(lag_s * 100)
    f_in, f_out = yin_hz(sent, rate), yin_hz(received, rate)
    v_in, v_out = pyin_voiced(sent, rate), pyin_voiced(received, rate)
    n = min(f_in.shape[0], f_out.shape[0] - lag, v_in.shape[0], v_out.shape[0] - lag)
    both = v_in[:n] & v_out[lag : lag + n]
    return 1200 * np.abs(np.log2(f_out[lag : lag + n][both] / f_in[:n][both]))


def sound_in_silence(sent: np.ndarray, received: np.ndarray, *, rate: int) -> tuple[int, int]:
    """(10 ms frames where `sent` has been digitally silent for 100 ms either side, how many of
    them `received` is not exactly silent in)."""
    hop = rate // 100
    n = min(sent.shape[0], received.shape[0]) // hop
    sounding = np.any(sent[: n * hop].reshape(n, hop) != 0, axis=1)
    near = np.convolve(sounding.astype(float), np.ones(21), mode="same") > 0
    loud = np.any(received[: n * hop].reshape(n, hop) != 0, axis=1)
    return int((~near).sum()), int((loud & ~near).sum())
