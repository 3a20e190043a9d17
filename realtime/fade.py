"""The closing fade-out of a live session, shared by the player and the replay so that both
produce the same samples."""

from __future__ import annotations

import numpy as np

FADE_SECONDS = 0.02  # long enough to avoid a click, short enough to feel immediate


def fade_curve(n: int) -> np.ndarray:
    """Linear gain from just below 1 to exactly 0: float32 [n]."""
    return (1.0 - np.arange(1, n + 1, dtype=np.float64) / n).astype(np.float32)


def fade_samples(sample_rate: int) -> int:
    return max(1, round(FADE_SECONDS * sample_rate))
