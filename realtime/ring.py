"""A preallocated single-producer / single-consumer ring of float32 samples.

The producer only advances `written`, the consumer only advances `read`; each copies its samples
before moving its own counter, so under the GIL the two threads need no lock, and neither side
ever blocks or allocates: `push` and `pop` return how many samples they moved.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be at least 1 sample")
        self.buffer = np.zeros(capacity, np.float32)
        self.capacity = capacity
        self.written = 0  # samples pushed so far (producer's counter)
        self.read = 0  # samples popped so far (consumer's counter)

    def available(self) -> int:
        return self.written - self.read

    def free(self) -> int:
        return self.capacity - (self.written - self.read)

    def push(self, samples: np.ndarray) -> int:
        """Copy as many of `samples` [n] as fit; returns that count."""
        n = min(samples.shape[0], self.free())
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self.buffer[start : start + first] = samples[:first]
        self.buffer[: n - first] = samples[first:n]
        self.written += n
        return n

    def pop(self, out: np.ndarray) -> int:
        """Fill the front of `out` [n] with the oldest samples; returns how many."""
        n = min(out.shape[0], self.available())
        start = self.read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self.buffer[start : start + first]
        out[first:n] = self.buffer[: n - first]
        self.read += n
        return n
