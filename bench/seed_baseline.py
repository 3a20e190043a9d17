"""The seed-style baseline that bench/quality.py measures the project's recipe against.

Written from the seed documents' description, not from their code: a 2 x 512 GRU reads, per
control frame, f0 + loudness + 30 MFCCs and predicts a harmonic distribution and filtered-noise
bands; 22.05 kHz audio, hop 512; batch 1, the whole training file in every step; loss: the sum
over FFT sizes 2048/1024/512/256 of the mean L1 distance of log magnitudes, plus 0.1 x the
waveform L1; Adam, learning rate 1e-3, no schedule. The synth is the seeds' formulation: every
harmonic's amplitude upsampled to audio rate, multiplied by its sine and summed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import librosa
import numpy as np
import torch
from torch import nn

from core.features import a_weighted_loudness, fill_unvoiced
from trainer.controls import get_controls, scale_f0, scale_loudness
from trainer.dsp import filtered_noise, upsample_linear
from trainer.losses import magnitude_spectrogram

SAMPLE_RATE = 22050  # Hz
HOP = 512  # samples per control frame (43 frames/s)
N_MFCC = 30
GRU_SIZE, GRU_LAYERS = 512, 2
N_HARMONICS, N_NOISE_BANDS = 64, 64
FFT_SIZES = (2048, 1024, 512, 256)
WAVEFORM_L1_WEIGHT = 0.1
LEARNING_RATE = 1e-3


def naive_harmonic_synth(
    f0_hz: torch.Tensor, amps: torch.Tensor, *, sample_rate: int, hop: int
) -> torch.Tensor:
    """The seeds' oscillator bank. f0_hz [b, T] Hz, amps [b, T, K] linear -> audio [b, T * hop]:
    every harmonic's amplitude upsampled to audio rate, multiplied by its sine, summed."""
    f0_up = upsample_linear(f0_hz[..., None], hop=hop)  # [b, n, 1]
    k = torch.arange(1, amps.shape[-1] + 1, dtype=amps.dtype)
    freqs = f0_up * k  # [b, n, K] Hz
    phases = torch.cumsum(2 * math.pi * freqs / sample_rate, dim=1)  # [b, n, K] rad
    amps_up = upsample_linear(amps, hop=hop) * (freqs < sample_rate / 2)
    return (amps_up * torch.sin(phases)).sum(-1)


@dataclass
class SeedFeatures:
    """Per-frame inputs of one file at SAMPLE_RATE / HOP, and its audio."""

    audio: np.ndarray  # [T * HOP] float32
    f0_hz: np.ndarray  # [T] float32, unvoiced frames filled from their neighbours
    loudness_db: np.ndarray  # [T] float32, A-weighted
    mfcc: np.ndarray  # [T, N_MFCC] float32


def seed_features(audio: np.ndarray) -> SeedFeatures:
    """audio: [n] float32 at SAMPLE_RATE -> its features, trimmed to whole frames."""
    n_frames = audio.shape[0] // HOP
    audio = audio[: n_frames * HOP].astype(np.float32)
    f0, voiced, _ = librosa.pyin(
        audio, fmin=50.0, fmax=2000.0, sr=SAMPLE_RATE, frame_length=2048, hop_length=HOP
    )
    f0 = fill_unvoiced(f0, np.asarray(voiced, bool))
    loudness = a_weighted_loudness(audio, sample_rate=SAMPLE_RATE, hop=HOP)
    mfcc = librosa.feature.mfcc(y=audio, sr=SAMPLE_RATE, n_mfcc=N_MFCC, hop_length=HOP).T
    return SeedFeatures(
        audio=audio,
        f0_hz=f0[:n_frames].astype(np.float32),
        loudness_db=loudness[:n_frames].astype(np.float32),
        mfcc=mfcc[:n_frames].astype(np.float32),
    )


class SeedModel(nn.Module):
    """GRU 2 x 512 on [f0, loudness, MFCC] per frame -> amplitude, harmonics, noise bands."""

    def __init__(self, loudness_mean: float, loudness_std: float) -> None:
        super().__init__()
        self.loudness_mean, self.loudness_std = loudness_mean, loudness_std
        self.gru = nn.GRU(2 + N_MFCC, GRU_SIZE, num_layers=GRU_LAYERS, batch_first=True)
        self.head = nn.Linear(GRU_SIZE, 1 + N_HARMONICS + N_NOISE_BANDS)

    def forward(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, mfcc: torch.Tensor
    ) -> torch.Tensor:
        """f0_hz, loudness_db: [b, T]; mfcc: [b, T, N_MFCC] -> audio [b, T * HOP]."""
        loud = scale_loudness(loudness_db, mean=self.loudness_mean, std=self.loudness_std)
        x = torch.cat([scale_f0(f0_hz)[..., None], loud[..., None], mfcc / 100.0], dim=-1)
        hidden, _ = self.gru(x)
        controls = get_controls(
            self.head(hidden), f0_hz, n_harmonics=N_HARMONICS, sample_rate=SAMPLE_RATE
        )
        harmonic = naive_harmonic_synth(
            f0_hz, controls.harmonic_amps, sample_rate=SAMPLE_RATE, hop=HOP
        )
        noise = filtered_noise(controls.noise_mags, torch.rand_like(harmonic) * 2 - 1, hop=HOP)
        return harmonic + noise


def seed_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Sum over FFT_SIZES of mean |log S - log Ŝ|, plus WAVEFORM_L1_WEIGHT x mean |x - x̂|."""
    loss = WAVEFORM_L1_WEIGHT * (pred - target).abs().mean()
    for n_fft in FFT_SIZES:
        s_pred = magnitude_spectrogram(pred, n_fft=n_fft)
        s_true = magnitude_spectrogram(target, n_fft=n_fft)
        loss = loss + (torch.log(s_pred + eps) - torch.log(s_true + eps)).abs().mean()
    return loss


@dataclass
class SeedRun:
    model: SeedModel
    steps: int
    wall_seconds: float
    audio_seconds_per_second: float  # training audio seen per wall-clock second


def train_seed_baseline(train: SeedFeatures, minutes: float, *, seed: int = 0) -> SeedRun:
    """Train for `minutes` of wall-clock time (the step under way when time runs out ends)."""
    torch.manual_seed(seed)
    model = SeedModel(float(train.loudness_db.mean()), float(max(train.loudness_db.std(), 1e-3)))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    f0, loud, mfcc, audio = (
        torch.from_numpy(a)[None] for a in (train.f0_hz, train.loudness_db, train.mfcc, train.audio)
    )
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < 60.0 * minutes:
        loss = seed_loss(model(f0, loud, mfcc), audio)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
    wall = time.perf_counter() - start
    seconds_per_step = audio.shape[1] / SAMPLE_RATE
    return SeedRun(model.eval(), steps, wall, steps * seconds_per_step / wall)


@torch.no_grad()
def resynthesize_seed(model: SeedModel, features: SeedFeatures) -> np.ndarray:
    """The baseline's reconstruction of a file: audio [T * HOP] float32 at SAMPLE_RATE."""
    torch.manual_seed(0)
    f0, loud, mfcc = (
        torch.from_numpy(a)[None] for a in (features.f0_hz, features.loudness_db, features.mfcc)
    )
    return model(f0, loud, mfcc)[0].numpy().astype(np.float32)
