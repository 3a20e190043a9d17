"""A float WAV written from the audio thread without blocking it: the callback copies each
block into a preallocated ring (`push`, which never waits or allocates), a writer thread drains
it into `PATH.partial`, and `close` renames that to PATH once everything is written. A writer
that fails leaves nothing under the real name (atomic), and `close` says why."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ParameterError
from realtime.ring import RingBuffer

RING_SECONDS = 4  # how far the writer may fall behind before blocks are lost (counted)
JOIN_TIMEOUT_S = 10.0


class WavRecorder:
    def __init__(self, path: Path, rate: int) -> None:
        self.path = path
        self.rate = rate
        self.ring = RingBuffer(RING_SECONDS * rate)
        self.overflows = 0  # blocks the writer fell behind on (lost from the WAV)
        self._running = False
        self._thread: threading.Thread | None = None
        self._file: Any = None
        self._error: str | None = None

    @property
    def partial(self) -> Path:
        return self.path.with_name(self.path.name + ".partial")

    def start(self) -> None:
        """Open the file (ParameterError naming it when that fails) and start the writer."""
        import soundfile as sf

        try:
            self._file = sf.SoundFile(self.partial, "w", self.rate, 1, "FLOAT", format="WAV")
        except Exception as err:
            raise ParameterError(f"cannot write {self.path}: {err}") from None
        self._running = True
        self._thread = threading.Thread(target=self._write, name="wav", daemon=True)
        self._thread.start()

    def push(self, block: np.ndarray) -> None:
        """From the audio thread: queue block [n] float32 (never waits)."""
        if self.ring.push(block) < block.shape[0]:
            self.overflows += 1

    def _write(self) -> None:
        chunk = np.zeros(self.rate // 10, np.float32)
        try:
            while True:
                n = self.ring.pop(chunk)
                if n:
                    self._file.write(chunk[:n])
                elif not self._running:
                    break
                else:
                    time.sleep(0.02)
            self._file.close()
        except Exception as err:  # a full disk, a vanished folder
            self._error = f"{self.path}: {err}"  # (close reports it)

    def close(self) -> str | None:
        """Write what is queued and give the file its name; or, when the writer failed or did
        not finish, remove the partial file and return why (None when all went well)."""
        if self._thread is None:
            return None
        self._running = False
        self._thread.join(timeout=JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            self._error = f"{self.path}: the writer did not finish within {JOIN_TIMEOUT_S:g} s"
        self._thread = None
        if self._error is None:
            os.replace(self.partial, self.path)
        else:
            self._remove_partial()
        return self._error

    def discard(self) -> None:
        """Stop the writer and remove the partial file (nothing was recorded worth keeping)."""
        if self._thread is not None:
            self._running = False
            self._thread.join(timeout=JOIN_TIMEOUT_S)
            self._thread = None
        self._remove_partial()

    def _remove_partial(self) -> None:
        try:
            if self._file is not None and not self._file.closed:
                self._file.close()
        except Exception:
            pass
        self.partial.unlink(missing_ok=True)
