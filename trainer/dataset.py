"""Training data: random fixed-length segments drawn across files, and a held-out validation slice.

The last `val_fraction` of every file is held out for validation; training segments come only from
the rest. Segments start on frame boundaries so that audio and frame features stay aligned.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from core.errors import AudioFileError, ParameterError
from core.features import Features


@dataclass(frozen=True)
class Batch:
    """A batch of aligned segments (B segments of T frames, hop samples per frame)."""

    audio: np.ndarray  # [B, T * hop] float32
    f0_hz: np.ndarray  # [B, T] float32
    loudness_db: np.ndarray  # [B, T] float32
    mfcc: np.ndarray  # [B, T, n_mfcc] float32


def slice_frames(features: Features, start: int, stop: int, hop: int) -> Features:
    """Frames [start, stop) of `features`, with the matching audio samples."""
    return Features(
        audio=features.audio[start * hop : stop * hop],
        f0_hz=features.f0_hz[start:stop],
        voiced=features.voiced[start:stop],
        loudness_db=features.loudness_db[start:stop],
        mfcc=features.mfcc[start:stop],
    )


class SegmentDataset:
    """Splits each file into a training part and a validation tail, and samples batches."""

    def __init__(
        self,
        features: list[Features],
        names: list[str],
        *,
        hop: int,
        segment_frames: int,
        val_fraction: float = 0.1,
        frame_rate: float = 100.0,
        silence: tuple[np.ndarray, np.ndarray] | None = None,
        sources: list[str] | None = None,
    ) -> None:
        """frame_rate: control frames per second (for messages in seconds). silence: the
        features of one segment of digital silence (core.features.silence_features), which
        `sample` can mix in. sources: each file as the user named it, for messages (default:
        `names`)."""
        self.silence = silence
        if not 0.0 <= val_fraction < 0.5:
            raise ParameterError(f"val_fraction={val_fraction} must be in [0, 0.5)")
        if segment_frames < 2:
            raise ParameterError(f"segment_frames={segment_frames} must be at least 2")
        self.hop = hop
        self.segment_frames = segment_frames
        self.names = names
        self.train: list[Features] = []
        self.validation: list[Features] = []
        self.validation_names: list[str] = []
        self._validated: list[tuple[Features, int]] = []  # (whole file, first validation frame)
        for feats, name, source in zip(features, names, sources or names, strict=True):
            n_val = round(val_fraction * feats.n_frames)
            n_train = feats.n_frames - n_val
            if n_train < segment_frames:
                raise AudioFileError(
                    f"{source}: too short: {n_train / frame_rate:.2f} s of training audio after "
                    f"holding out {n_val / frame_rate:.2f} s for validation, and a training "
                    f"segment is {segment_frames / frame_rate:.2f} s; give a longer recording or "
                    "a shorter --segment-seconds"
                )
            self.train.append(slice_frames(feats, 0, n_train, hop))
            if n_val > 0:
                self.validation.append(slice_frames(feats, n_train, feats.n_frames, hop))
                self.validation_names.append(name)
                self._validated.append((feats, n_train))
        # Weight files by how many segment starts they offer, so every frame is equally likely.
        starts = np.array([f.n_frames - segment_frames + 1 for f in self.train], dtype=np.float64)
        self._file_weights = starts / starts.sum()
        loud = np.concatenate([f.loudness_db for f in self.train])
        self.loudness_mean = float(loud.mean())
        self.loudness_std = float(max(loud.std(), 1e-3))
        self.loudness_low_db = float(np.percentile(loud, 1.0))  # the quietest playing covered
        voiced = np.concatenate([f.f0_hz[f.voiced] for f in self.train])
        pitched = voiced if voiced.size else np.concatenate([f.f0_hz for f in self.train])
        # Robust to a few octave errors of the tracker: the 1st and 99th percentiles.
        low, high = np.percentile(pitched, [1.0, 99.0])
        self.f0_range_hz = (float(low), float(high))  # Hz, the pitches training covers

    def validation_excerpt(self, index: int, frames: int) -> tuple[Features, int]:
        """Validation slice `index`, lengthened to `frames` frames (when the file has them) by
        the end of the training part before it: for a picture long enough to read. Returns
        (features, the excerpt's first validation frame)."""
        whole, start = self._validated[index]
        first = max(0, min(start, whole.n_frames - frames))
        return slice_frames(whole, first, whole.n_frames, self.hop), start - first

    @property
    def train_frames(self) -> int:
        """Frames available for training, over all files."""
        return sum(f.n_frames for f in self.train)

    def sample(
        self, rng: np.random.Generator, batch_size: int, *, silence_fraction: float = 0.0
    ) -> Batch:
        """`batch_size` random segments, files chosen in proportion to their length. Each is
        digital silence (zeros, the silent loudness and MFCCs, the pitch of a real segment)
        with probability `silence_fraction` (needs `silence`)."""
        t, hop = self.segment_frames, self.hop
        files = rng.choice(len(self.train), size=batch_size, p=self._file_weights)
        silent = rng.random(batch_size) < silence_fraction
        if silent.any() and self.silence is None:
            raise ParameterError("silence_fraction > 0 needs the dataset's silence features")
        parts = []
        for index, quiet in zip(files, silent, strict=True):
            feats = self.train[index]
            start = int(rng.integers(0, feats.n_frames - t + 1))
            part = slice_frames(feats, start, start + t, hop)
            if quiet and self.silence is not None:
                loudness, mfcc = self.silence
                part = dataclasses.replace(
                    part, audio=np.zeros_like(part.audio), loudness_db=loudness, mfcc=mfcc
                )
            parts.append(part)
        return Batch(
            audio=np.stack([p.audio for p in parts]),
            f0_hz=np.stack([p.f0_hz for p in parts]),
            loudness_db=np.stack([p.loudness_db for p in parts]),
            mfcc=np.stack([p.mfcc for p in parts]),
        )
