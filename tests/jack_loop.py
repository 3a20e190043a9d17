"""Test helpers for JACK: a dummy server under its own name, and a JACK client that plays a
recording into another client's port while recording what it sent and what comes back, both on
the same period clock (so an input-to-output latency can be read off the two tracks).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest


@contextmanager
def jack_server(period: int, *, rate: int = 48000) -> Iterator[dict[str, str]]:
    """A JACK dummy server (its own name, `period` samples); yields the environment that
    reaches it. Without jackd: skip, or fail where TIMBRE_REQUIRE_JACK=1 (CI)."""
    if shutil.which("jackd") is None:
        if os.environ.get("TIMBRE_REQUIRE_JACK") == "1":
            pytest.fail("jackd not found but TIMBRE_REQUIRE_JACK=1 (apt-get install jackd2)")
        pytest.skip("jackd not installed")
    name = f"timbre-test-{os.getpid()}-{period}"
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1"}
    dummy = ["-d", "dummy", "-r", str(rate), "-p", str(period), "-C", "0", "-P", "2"]
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
    it plays `signal` out of `send` (then silence) and records `send` and `back` side by side
    until `seconds` are recorded. Connect the ports with `connect`."""

    def __init__(self, server: str, signal: np.ndarray, seconds: float) -> None:
        import jack

        self.client = jack.Client("tester", no_start_server=True, servername=server)
        self.rate = int(self.client.samplerate)
        self.send = self.client.outports.register("send")
        self.back = self.client.inports.register("back")
        self.signal = signal.astype(np.float32)
        total = round(seconds * self.rate)
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
        if not self.playing or self.pos >= self.sent.shape[0]:
            return
        n = min(frames, self.sent.shape[0] - self.pos)
        start = self.pos
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
