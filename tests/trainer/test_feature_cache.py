"""The feature cache: computed once per file and settings, recomputed when either changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from core.features import FeatureConfig
from tests.conftest import harmonic_tone
from trainer.feature_cache import cache_key, load_features

SR = 24000


def test_feature_cache_round_trip_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, harmonic_tone(220.0, 1.0, sample_rate=SR), SR)
    config = FeatureConfig(f0_tracker="yin")
    cache = tmp_path / "cache"
    first = load_features(path, config, cache)
    entries = list(cache.glob("*.npz"))
    assert len(entries) == 1
    again = load_features(path, config, cache)
    np.testing.assert_array_equal(first.f0_hz, again.f0_hz)
    # another setting or other content gives another key
    assert cache_key(path, FeatureConfig(f0_tracker="pyin")) != cache_key(path, config)
    sf.write(path, harmonic_tone(330.0, 1.0, sample_rate=SR), SR)
    assert cache_key(path, config) != entries[0].stem
    # a corrupt cache entry is recomputed, not trusted
    entries[0].write_bytes(b"garbage")
    sf.write(path, harmonic_tone(220.0, 1.0, sample_rate=SR), SR)
    recomputed = load_features(path, config, cache)
    np.testing.assert_array_equal(first.f0_hz, recomputed.f0_hz)
