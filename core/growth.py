"""Growth strategies: the NCA, and the seeds' fixed harmonic activations over discrete stages.

A fixed strategy turns on the first n harmonics at stage s of S (s = 0..S-1):
- linear: n = round(1 + (K - 1) * s / (S - 1))
- exponential: n = round(K ** (s / (S - 1))) (1, then doubling-like steps up to K)
- fibonacci: n = min(K, F(s + 2)) with F(1) = F(2) = 1 (1, 2, 3, 5, 8, 13, ...)
"""

from __future__ import annotations

import numpy as np

from core.errors import ParameterError

STRATEGIES = ("nca", "linear", "exponential", "fibonacci")
FIXED_STRATEGIES = STRATEGIES[1:]


def active_harmonics(strategy: str, stage: int, n_stages: int, n_harmonics: int) -> int:
    """Number of harmonics a fixed strategy has on at `stage` (0-based) of `n_stages`."""
    if strategy not in FIXED_STRATEGIES:
        raise ParameterError(
            f"strategy={strategy!r} must be one of {', '.join(FIXED_STRATEGIES)} here"
        )
    if not 0 <= stage < n_stages:
        raise ParameterError(f"stage={stage} must be in 0..{n_stages - 1}")
    progress = stage / (n_stages - 1) if n_stages > 1 else 1.0
    if strategy == "linear":
        return round(1 + (n_harmonics - 1) * progress)
    if strategy == "exponential":
        return min(n_harmonics, round(n_harmonics**progress))
    a, b = 1, 1  # F(1), F(2)
    for _ in range(stage):
        a, b = b, a + b
    return min(n_harmonics, b)


def stage_mask(strategy: str, stage: int, n_stages: int, n_harmonics: int) -> np.ndarray:
    """[K] float32 mask with the first active_harmonics(...) harmonics at 1."""
    mask = np.zeros(n_harmonics, dtype=np.float32)
    mask[: active_harmonics(strategy, stage, n_stages, n_harmonics)] = 1.0
    return mask
