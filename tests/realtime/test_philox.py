"""The engine's compiled Philox draws are numpy's `frame_generator` streams, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.philox import uniform, uniform_rows
from realtime.synth import frame_generator, frame_noise


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("key", "frame", "slot", "n"),
    [(0, 0, 0, 480), (3, 7, 2, 5), (9, 7, 2, 33), (3, 7, 2, 1), (2**63 + 1, 123456, 63, 961)],
)
def test_draws_are_the_frame_generators(
    key: int, frame: int, slot: int, n: int, dtype: type
) -> None:
    expected = frame_generator(key, frame, slot).random(n, dtype=dtype)
    got = uniform(key, frame, slot, np.full(n, np.nan, dtype))
    assert np.array_equal(got, expected)


def test_frames_and_slots_draw_apart() -> None:
    draws = [uniform(4, f, s, np.empty(64)) for f, s in ((0, 0), (1, 0), (0, 1))]
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[0], draws[2])


def test_frame_noise_fills_a_buffer_with_the_same_noise() -> None:
    buffer = np.zeros(480, np.float32)
    filled = frame_noise(3, 10, 480, 1, out=buffer)
    assert filled is buffer
    assert np.array_equal(buffer, frame_noise(3, 10, 480, 1))
    reference = frame_generator(3, 10, 1).random(480, dtype=np.float32) * 2.0 - 1.0
    assert np.array_equal(buffer, reference)
    assert buffer.min() >= -1.0 and buffer.max() < 1.0


def test_rows_are_each_slots_draws() -> None:
    slots = np.array([3, 0, 7], np.int64)
    rows = uniform_rows(11, 42, slots, np.zeros((3, 64)))
    for row, slot in zip(rows, slots, strict=True):
        assert np.array_equal(row, frame_generator(11, 42, int(slot)).random(64))
