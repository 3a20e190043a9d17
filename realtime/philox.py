"""Counter-based random draws for the engine, compiled, into buffers the caller owns.

The engine's randomness (each frame's white noise, the NCA's fire mask, a perturbation) is keyed
by (key, frame, slot): Philox-4x64-10 with the key in its key and the counter set to
[0, frame, slot, 0], the stream `realtime.synth.frame_generator` defines with numpy. numpy only
moves a Philox to a counter through its `state` dict, which builds new arrays on every call; these
functions compute the same numbers (bit for bit: tests/realtime/test_philox.py) straight into an
`out` array, so a control frame draws its noise without allocating.

numpy's Philox increments the counter before each block of four 64-bit outputs; `random` in
float64 takes a 64-bit output's top 53 bits, in float32 a 32-bit half's top 24 bits (the low half
of each 64-bit output first, then its high half).
"""

from __future__ import annotations

import numba
import numpy as np

_M0 = np.uint64(0xD2E7470EE14C6C93)  # Philox-4x64 multipliers
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)  # key increments (golden ratio, sqrt(3) - 1)
_W1 = np.uint64(0xBB67AE8584CAA73B)
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
ROUNDS = 10


@numba.njit(cache=True, inline="always")
def _mulhilo(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:
    """(high, low) 64-bit words of the 128-bit product a * b."""
    a_lo, a_hi = a & _LOW32, a >> _SHIFT32
    b_lo, b_hi = b & _LOW32, b >> _SHIFT32
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (p0 >> _SHIFT32) + (p1 & _LOW32) + (p2 & _LOW32)
    high = p3 + (p1 >> _SHIFT32) + (p2 >> _SHIFT32) + (mid >> _SHIFT32)
    return high, a * b


@numba.njit(cache=True)
def _block(c0, c1, c2, c3, k0, k1):  # type: ignore[no-untyped-def]
    """Philox-4x64-10 of counter (c0..c3) under key (k0, k1): four 64-bit outputs."""
    for r in range(ROUNDS):
        if r > 0:
            k0 += _W0
            k1 += _W1
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@numba.njit(cache=True)
def _fill(key: np.uint64, frame: int, slot: int, out: np.ndarray, single: bool) -> None:
    k0 = np.uint64(key)
    k1 = np.uint64(0)
    c0, c1, c2, c3 = np.uint64(0), np.uint64(frame), np.uint64(slot), np.uint64(0)
    one = np.uint64(1)
    n = out.shape[0]
    i = 0
    while i < n:
        c0 += one  # numpy increments before each block (a carry needs 2**64 blocks: never)
        words = _block(c0, c1, c2, c3, k0, k1)
        for w in range(4):
            if single:
                for half in range(2):
                    if i < n:
                        bits = (words[w] >> (_SHIFT32 * np.uint64(half))) & _LOW32
                        out[i] = np.float32(bits >> np.uint64(8)) * np.float32(1.0 / 16777216.0)
                        i += 1
            elif i < n:
                out[i] = np.float64(words[w] >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                i += 1


def uniform(key: int, frame: int, slot: int, out: np.ndarray) -> np.ndarray:
    """Fill out [n] (float32 or float64, contiguous) with the uniform [0, 1) draws that
    `frame_generator(key, frame, slot).random(n, dtype=out.dtype)` gives; returns out.
    key: 0..2**64 - 1 (the engine's keys are its seed plus 0, 1 or 2)."""
    _fill(np.uint64(key), frame, slot, out, out.dtype == np.float32)
    return out


@numba.njit(cache=True)
def _fill_rows(key: np.uint64, frame: int, slots: np.ndarray, out: np.ndarray) -> None:
    for row in range(slots.shape[0]):
        _fill(key, frame, slots[row], out[row], False)


def uniform_rows(key: int, frame: int, slots: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Row r of out [n, K] float64 = `uniform(key, frame, slots[r], out[r])` (slots: int64
    [n]), in one call; returns out."""
    _fill_rows(np.uint64(key), frame, slots, out)
    return out
