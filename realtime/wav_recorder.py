"""A float WAV written from the audio thread without blocking it: the callback copies each
block into a preallocated ring (`push`, which never waits or allocates), a writer thread drains
it to `PATH.partial`, and `close` renames that to PATH once everything is written (so a crash
leaves no half-written recording under the real name)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

from realtime.ring import RingBuffer

RING_SECONDS = 4  # how far the writer may fall behind before blocks are lost (counted)


class WavRecorder:
    def __init__(self, path: Path, rate: int) -> None:
        self.path = path
        self.rate = rate
        self.ring = RingBuffer(RING_SECONDS * rate)
        self.overflows = 0  # blocks the writer fell behind on (lost from the WAV)
        self._running = False
        self._thread: threading.Thread | None = None

    @property
    def partial(self) -> Path:
        return self.path.with_name(self.path.name + ".partial")

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._write, name="wav", daemon=True)
        self._thread.start()

    def push(self, block: np.ndarray) -> None:
        """From the audio thread: queue block [n] float32 (never waits)."""
        if self.ring.push(block) < block.shape[0]:
            self.overflows += 1

    def _write(self) -> None:
        import soundfile as sf

        chunk = np.zeros(self.rate // 10, np.float32)
        with sf.SoundFile(self.partial, "w", self.rate, 1, subtype="FLOAT", format="WAV") as wav:
            while True:
                n = self.ring.pop(chunk)
                if n:
                    wav.write(chunk[:n])
                elif not self._running:
                    break
                else:
                    time.sleep(0.02)

    def close(self) -> None:
        """Write what is queued, then give the file its name."""
        if self._thread is None:
            return
        self._running = False
        self._thread.join(timeout=10.0)
        self._thread = None
        os.replace(self.partial, self.path)
