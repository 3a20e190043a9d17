"""The non-blocking WAV writer of grow-live's recordings: complete files under their name, or
nothing there and a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import ParameterError
from realtime.wav_recorder import WavRecorder


def test_blocks_pushed_are_written_under_the_name_at_close(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    recorder = WavRecorder(path, 48000)
    recorder.start()
    blocks = [np.full(128, i / 100, np.float32) for i in range(50)]
    for block in blocks:
        recorder.push(block)
    assert not path.exists()  # only the partial file while recording
    assert recorder.close() is None
    written, rate = sf.read(path, dtype="float32")
    assert rate == 48000
    np.testing.assert_array_equal(written, np.concatenate(blocks))
    assert not recorder.partial.exists()


def test_an_unwritable_place_is_named_before_recording(tmp_path: Path) -> None:
    recorder = WavRecorder(tmp_path / "missing" / "take.wav", 48000)
    with pytest.raises(ParameterError, match=r"cannot write .*take\.wav"):
        recorder.start()
    assert recorder.close() is None


def test_a_writer_that_fails_leaves_nothing_under_the_name(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    recorder = WavRecorder(path, 48000)
    recorder.start()
    recorder._file.close()  # as a vanished disk would: every write now fails
    recorder.push(np.ones(128, np.float32))
    error = recorder.close()
    assert error is not None and "take.wav" in error
    assert not path.exists() and not recorder.partial.exists()


def test_a_full_ring_counts_the_blocks_lost(tmp_path: Path) -> None:
    recorder = WavRecorder(tmp_path / "take.wav", 8000)  # not started: nothing drains it
    block = np.zeros(8000, np.float32)
    for _ in range(5):
        recorder.push(block)
    assert recorder.overflows == 1  # the ring holds RING_SECONDS (4 s)
    recorder.discard()
