"""Shared fixtures: synthetic tones written to real audio files, the bundled example."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from trainer.example import example_audio_path


def harmonic_tone(
    f0_hz: float,
    seconds: float,
    *,
    sample_rate: int,
    harmonic_amps: tuple[float, ...] = (0.4, 0.2, 0.1, 0.05),
    vibrato_cents: float = 0.0,
) -> np.ndarray:
    """A steady harmonic tone [n] float32 with a 20 ms fade in and out."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = f0_hz * 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    tone = sum(a * np.sin((k + 1) * phase) for k, a in enumerate(harmonic_amps))
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    return (tone * fade).astype(np.float32)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Real-time tests on the JACK dummy server run last: a fresh VM stalls often in its first
    minutes (tests/e2e/test_grow_live.py's docstring), and nothing else depends on them."""
    items.sort(key=lambda item: "jack_env" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def example_path() -> Path:
    return example_audio_path()


@pytest.fixture
def tone_file(tmp_path: Path) -> Path:
    """3 s of a 330 Hz harmonic tone at 48 kHz, stereo, as a WAV file."""
    tone = harmonic_tone(330.0, 3.0, sample_rate=48000, vibrato_cents=20)
    path = tmp_path / "tone.wav"
    sf.write(path, np.stack([tone, 0.5 * tone], axis=1), 48000)
    return path


@pytest.fixture(scope="session")
def feature_cache_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for CLI subprocesses: one feature cache for the whole test session."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    return {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONUNBUFFERED": "1"}


from tests.export_fixtures import exported, exported_texture  # noqa: E402,F401  (shared by export and realtime tests)
