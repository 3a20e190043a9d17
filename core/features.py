"""Frame features of a recording: f0 (Hz), A-weighted loudness (dB) and MFCC.

Frame t is centred on sample t * hop. numpy + librosa only (no torch: CREPE, which needs it,
comes in from the trainer), so that the same extractors can serve the live engine's resynthesis
path. The f0 tracker is part of the settings and is stored with a run, so that later
resynthesis uses the same one.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.errors import AudioFileError, ParameterError

F0_TRACKERS = ("pyin", "yin", "crepe")


@dataclass(frozen=True)
class FeatureConfig:
    """Feature settings; all of them form part of the cache key."""

    sample_rate: int = 24000
    hop: int = 240
    f0_tracker: str = "pyin"
    f0_min_hz: float = 50.0
    f0_max_hz: float = 2000.0
    n_mfcc: int = 30
    loudness_floor_db: float = -100.0

    def __post_init__(self) -> None:
        if self.sample_rate < 8000:
            raise ParameterError(f"sample_rate={self.sample_rate} must be at least 8000 Hz")
        if self.hop < 16 or self.sample_rate / self.hop < 50:
            raise ParameterError(
                f"hop={self.hop} must be >= 16 samples and give >= 50 frames/s at "
                f"{self.sample_rate} Hz"
            )
        if self.f0_tracker not in F0_TRACKERS:
            raise ParameterError(
                f"f0_tracker={self.f0_tracker!r} must be one of {', '.join(F0_TRACKERS)}"
            )
        if not 0 < self.f0_min_hz < self.f0_max_hz < self.sample_rate / 2:
            raise ParameterError(
                f"f0_min_hz={self.f0_min_hz} and f0_max_hz={self.f0_max_hz} must give a pitch "
                f"range 0 < min < max below Nyquist ({self.sample_rate / 2:g} Hz)"
            )

    @property
    def frame_rate(self) -> float:
        """Control frames per second."""
        return self.sample_rate / self.hop

    def key(self) -> str:
        """Stable text form of the settings, for cache keys."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Features:
    """One file's audio and frame features, all on the same frame grid (n_frames = T)."""

    audio: np.ndarray  # [T * hop] float32, mono, at the model rate
    f0_hz: np.ndarray  # [T] float32, unvoiced frames filled from voiced neighbours
    voiced: np.ndarray  # [T] bool
    loudness_db: np.ndarray  # [T] float32, A-weighted
    mfcc: np.ndarray  # [T, n_mfcc] float32

    @property
    def n_frames(self) -> int:
        return int(self.f0_hz.shape[0])


def analysis_n_fft(sample_rate: int) -> int:
    """FFT size for loudness and MFCC: the power of two nearest 40 ms, so the definition of
    loudness does not depend on the sample rate."""
    return int(2 ** round(math.log2(0.04 * sample_rate)))


def a_weighted_loudness(
    audio: np.ndarray, *, sample_rate: int, hop: int, floor_db: float = -100.0
) -> np.ndarray:
    """A-weighted mean-square level per frame, in dB relative to full scale.

    audio: [n] float samples. Returns [1 + n // hop] float32 dB. A full-scale 1 kHz sine reads
    -3.0 dB (its mean square is 1/2); the level is the window-weighted mean square, so it does not
    depend on the FFT size.
    """
    import librosa

    n_fft = analysis_n_fft(sample_rate)
    spec = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop, center=True)) ** 2  # [F, T]
    mean_square = loudness_weights(sample_rate, n_fft) @ spec
    level = 10.0 * np.log10(np.maximum(mean_square, 10.0 ** (floor_db / 10.0)))
    return level.astype(np.float32)


def loudness_weights(sample_rate: int, n_fft: int) -> np.ndarray:
    """[n_fft // 2 + 1] float64 weights w such that w @ |X|^2, for X the rFFT of n_fft samples
    under a periodic Hann window, is their A-weighted, window-weighted mean square (the loudness
    definition above; the streaming tracker, realtime.tracker, uses the same weights)."""
    import librosa

    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    with np.errstate(divide="ignore"):  # the weight at 0 Hz is -inf dB, i.e. 0
        weight = 10.0 ** (librosa.A_weighting(freqs, min_db=None) / 10.0)  # [F] power weights
    window = hann_window(n_fft)
    return 2.0 * weight / (n_fft * np.sum(window**2))


def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window [n] float64, as librosa's STFT uses by default."""
    return np.hanning(n + 1)[:n]


# A tracker that needs more than numpy and librosa, passed in by the part that has it:
# (audio [n] at config.sample_rate, config) -> (f0_hz [1 + n // hop], voiced [same] bool).
F0Tracker = Callable[[np.ndarray, "FeatureConfig"], tuple[np.ndarray, np.ndarray]]


def track_f0(
    audio: np.ndarray, config: FeatureConfig, *, crepe: F0Tracker | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """f0 in Hz and a voiced flag per frame, with the configured tracker.

    Returns (f0_hz [1 + n // hop] with NaN where unvoiced, voiced [same] bool). CREPE needs torch,
    so it lives in the trainer (trainer/crepe_f0.py) and comes in as `crepe`.
    """
    if config.f0_tracker == "crepe":
        if crepe is None:
            raise ParameterError(
                "f0_tracker='crepe' needs torch and runs only in the trainer (grow-train); "
                "here use pyin or yin"
            )
        return crepe(audio, config)
    import librosa

    sr, hop = config.sample_rate, config.hop
    frame_length = 2 ** math.ceil(math.log2(max(4 * sr / config.f0_min_hz, 2 * hop)))
    common = dict(
        fmin=config.f0_min_hz,
        fmax=config.f0_max_hz,
        sr=sr,
        frame_length=frame_length,
        hop_length=hop,
        center=True,
    )
    if config.f0_tracker == "pyin":
        f0, voiced, _ = librosa.pyin(audio, **common)
        return f0.astype(np.float32), np.asarray(voiced, dtype=bool)
    if config.f0_tracker == "yin":
        f0 = librosa.yin(audio, **common).astype(np.float32)
        # yin gives no voicing: call frames voiced where the A-weighted level is above -60 dB.
        level = a_weighted_loudness(audio, sample_rate=sr, hop=hop)[: f0.shape[0]]
        voiced = level > -60.0
        return np.where(voiced, f0, np.nan).astype(np.float32), voiced
    choices = ", ".join(F0_TRACKERS)
    raise ParameterError(f"f0_tracker={config.f0_tracker!r} must be one of {choices}")


def fill_unvoiced(f0_hz: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Fill unvoiced frames by interpolating log-f0 between voiced neighbours (edges held).

    f0_hz: [T] Hz (NaN allowed where unvoiced). Raises AudioFileError if no frame is voiced.
    """
    ok = voiced & np.isfinite(f0_hz) & (f0_hz > 0)
    if not ok.any():
        raise AudioFileError("no pitched frames found: is this a monophonic pitched instrument?")
    frames = np.arange(f0_hz.shape[0])
    log_f0 = np.interp(frames, frames[ok], np.log(f0_hz[ok]))
    return np.exp(log_f0).astype(np.float32)


def compute_features(
    audio: np.ndarray, config: FeatureConfig, *, crepe: F0Tracker | None = None
) -> Features:
    """All frame features of mono `audio` [n] at config.sample_rate (crepe: as in track_f0).

    The audio is cut to a whole number of frames T = n // hop.
    """

    n_frames = audio.shape[0] // config.hop
    audio = np.ascontiguousarray(audio[: n_frames * config.hop], dtype=np.float32)
    f0, voiced = track_f0(audio, config, crepe=crepe)
    loudness = a_weighted_loudness(
        audio, sample_rate=config.sample_rate, hop=config.hop, floor_db=config.loudness_floor_db
    )
    mfcc = mfcc_frames(audio, config)
    f0, voiced = f0[:n_frames], voiced[:n_frames]
    return Features(
        audio=audio,
        f0_hz=fill_unvoiced(f0, voiced),
        voiced=voiced,
        loudness_db=loudness[:n_frames],
        mfcc=mfcc[:n_frames],
    )


def mfcc_frames(audio: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """MFCCs of mono `audio` [n]: [1 + n // hop, n_mfcc] float32 (frame t centred on t * hop)."""
    import librosa

    mfcc = librosa.feature.mfcc(
        y=audio,
        sr=config.sample_rate,
        n_mfcc=config.n_mfcc,
        n_fft=analysis_n_fft(config.sample_rate),
        hop_length=config.hop,
        n_mels=64,
        center=True,
    )
    return np.ascontiguousarray(mfcc.T, dtype=np.float32)


def silence_features(n_frames: int, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """What the extractors read from `n_frames` of digital silence: (loudness [T] dB at the
    floor, mfcc [T, n_mfcc]). Training mixes such segments in, so that the model learns that
    silence in gives silence out."""
    silent = np.zeros(n_frames * config.hop, np.float32)
    loudness = a_weighted_loudness(
        silent, sample_rate=config.sample_rate, hop=config.hop, floor_db=config.loudness_floor_db
    )
    return loudness[:n_frames], mfcc_frames(silent, config)[:n_frames]
