"""The DDSP autoencoder: MFCC encoder + recurrent decoder + harmonic/noise synth (+ reverb)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.errors import ParameterError
from trainer.controls import Controls, get_controls, scale_f0, scale_loudness
from trainer.dsp import fft_convolve, filtered_noise, harmonic_synth
from trainer.level import noise_gram
from trainer.models.decoder import Decoder
from trainer.models.encoder import MfccEncoder
from trainer.models.presets import LEVEL_MODES, decoder_size


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network (stored in the checkpoint)."""

    preset: str = "tiny"
    sample_rate: int = 24000
    hop: int = 240
    n_harmonics: int = 64
    n_noise_bands: int = 64
    z_dim: int = 16
    n_mfcc: int = 30
    reverb_seconds: float = 0.0  # 0 = no learned reverb
    loudness_mean: float = -40.0  # dB, from the training data
    loudness_std: float = 15.0  # dB
    # What training made audible (from the training data; 0 = not limited, runs before v0.2):
    # the decoder sees f0 clamped into [f0_trained_low_hz, f0_trained_high_hz], and harmonics
    # above trained_harmonics (the highest below the training Nyquist at the lowest trained
    # pitch) are silent, so that an unseen pitch plays no partial the model never learned.
    f0_trained_low_hz: float = 0.0
    f0_trained_high_hz: float = 0.0
    trained_harmonics: int = 0
    # The quietest playing training covers (dB, its 1st percentile; None = not limited). Below
    # it the decoder sees this loudness and the synth's level follows the input down, dB for dB,
    # so rests and tails quieter than anything in training play that quiet instead of whatever
    # the network makes of an input it never saw.
    loudness_trained_low_db: float | None = None
    # "loudness": the synth's A-weighted level is the loudness input, frame by frame
    # (trainer/level.py), and the network learns the timbre only; "learned": DDSP's amplitude
    # head sets the level (runs made before this field), and below the trained low it follows
    # the input.
    level: str = "learned"

    def __post_init__(self) -> None:
        decoder_size(self.preset)
        for name in ("n_harmonics", "n_noise_bands", "z_dim", "n_mfcc"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name}={getattr(self, name)} must be at least 1")
        if self.n_noise_bands < 2:
            raise ParameterError(f"n_noise_bands={self.n_noise_bands} must be at least 2")
        if self.level not in LEVEL_MODES:
            raise ParameterError(f"level={self.level!r} must be one of {', '.join(LEVEL_MODES)}")
        if not 0.0 <= self.reverb_seconds <= 4.0:
            raise ParameterError(f"reverb_seconds={self.reverb_seconds} must be in [0, 4]")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Synthesis:
    """Synth output for a batch (all [batch, n_samples])."""

    audio: torch.Tensor
    harmonic: torch.Tensor
    noise: torch.Tensor


class DDSPAutoencoder(nn.Module):
    """z = encoder(mfcc); controls = decoder(f0, loudness, z); audio = synth(controls)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = MfccEncoder(n_mfcc=config.n_mfcc, z_dim=config.z_dim)
        self.decoder = Decoder(
            decoder_size(config.preset),
            z_dim=config.z_dim,
            n_harmonics=config.n_harmonics,
            n_noise_bands=config.n_noise_bands,
        )
        # The noise's level matrix (a constant, not in the state dict: old checkpoints load).
        self.noise_gram: torch.Tensor
        self.register_buffer(
            "noise_gram",
            noise_gram(config.n_noise_bands, sample_rate=config.sample_rate),
            persistent=False,
        )
        # Set to torch.bfloat16 on CUDA: the networks run under autocast, the synth in float32.
        self.autocast_dtype: torch.dtype | None = None
        self.reverb_ir: nn.Parameter | None = None
        if config.reverb_seconds > 0:
            n = int(config.reverb_seconds * config.sample_rate)
            decay = torch.exp(-torch.arange(n) / (0.1 * config.sample_rate))
            self.reverb_ir = nn.Parameter(1e-3 * torch.randn(n) * decay)

    def controls(
        self,
        f0_hz: torch.Tensor,
        loudness_db: torch.Tensor,
        z: torch.Tensor,
        *,
        state: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[Controls, torch.Tensor]:
        """f0_hz, loudness_db: [batch, T]; z: [batch, Z]; mask: [batch, (T,) K] or None.

        Returns (controls, GRU state [L, batch, H]).
        """
        raw, state = self.decode_raw(f0_hz, loudness_db, z, state=state)
        return self.physical_controls(raw, f0_hz, loudness_db, mask=mask), state

    def decode_raw(
        self,
        f0_hz: torch.Tensor,
        loudness_db: torch.Tensor,
        z: torch.Tensor,
        *,
        state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder output before scaling: ([batch, T, 1 + K + B] float32, state [L, batch, H])."""
        cfg = self.config
        if cfg.f0_trained_low_hz > 0:  # the network only ever saw pitches in this range
            f0_hz = f0_hz.clamp(cfg.f0_trained_low_hz, cfg.f0_trained_high_hz)
        if cfg.loudness_trained_low_db is not None:  # nor playing quieter than this
            loudness_db = loudness_db.clamp_min(cfg.loudness_trained_low_db)
        raw, state = self.decoder(
            scale_f0(f0_hz),
            scale_loudness(loudness_db, mean=cfg.loudness_mean, std=cfg.loudness_std),
            z,
            state,
        )
        return raw.float(), state

    def physical_controls(
        self,
        raw: torch.Tensor,
        f0_hz: torch.Tensor,
        loudness_db: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
    ) -> Controls:
        """Raw decoder output [batch, T, 1 + K + B] -> synth controls. f0_hz, loudness_db:
        [batch, T] (the decoder's inputs, unclamped); mask: [batch, K] or [batch, T, K] or None."""
        cfg = self.config
        follows = cfg.level == "loudness"  # then the level is right below the trained low too
        return get_controls(
            raw,
            f0_hz,
            n_harmonics=cfg.n_harmonics,
            sample_rate=cfg.sample_rate,
            mask=mask,
            trained_harmonics=cfg.trained_harmonics or cfg.n_harmonics,
            level=None if follows else self.level_below_training(loudness_db),
            loudness_db=loudness_db if follows else None,
            noise_gram=self.noise_gram if follows else None,
        )

    def level_below_training(self, loudness_db: torch.Tensor) -> torch.Tensor | None:
        """Linear gain [batch, T]: 1 within the trained loudness, 10^((l - low) / 20) below it;
        None when the model has no trained low (runs before v0.2)."""
        low = self.config.loudness_trained_low_db
        if low is None:
            return None
        return torch.pow(10.0, (loudness_db - low).clamp_max(0.0) / 20.0)

    def synthesize(
        self, controls: Controls, f0_hz: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> Synthesis:
        """Controls for T frames -> audio [batch, T * hop] (noise uniform in [-1, 1])."""
        shape = (f0_hz.shape[0], f0_hz.shape[1] * self.config.hop)
        white = torch.rand(shape, generator=generator, device=f0_hz.device) * 2 - 1
        return self.synthesize_with_noise(controls, f0_hz, white)

    def synthesize_with_noise(
        self, controls: Controls, f0_hz: torch.Tensor, white: torch.Tensor
    ) -> Synthesis:
        """As synthesize, with the white noise [batch, T * hop] given."""
        cfg = self.config
        harmonic, _ = harmonic_synth(
            f0_hz, controls.harmonic_amps, sample_rate=cfg.sample_rate, hop=cfg.hop
        )
        noise = filtered_noise(controls.noise_mags, white, hop=cfg.hop)
        audio = harmonic + noise
        if self.reverb_ir is not None:
            ir = torch.cat([self.reverb_ir.new_zeros(1), self.reverb_ir[1:]])  # no wet at lag 0
            audio = audio + fft_convolve(audio, ir)
        return Synthesis(audio=audio, harmonic=harmonic, noise=noise)

    def forward(
        self,
        f0_hz: torch.Tensor,
        loudness_db: torch.Tensor,
        mfcc: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> Synthesis:
        """Reconstruct segments. f0_hz, loudness_db: [batch, T]; mfcc: [batch, T, n_mfcc]."""
        with torch.autocast(
            device_type=f0_hz.device.type,
            dtype=self.autocast_dtype or torch.bfloat16,
            enabled=self.autocast_dtype is not None,
        ):
            z = self.encoder(mfcc)
            controls, _ = self.controls(f0_hz, loudness_db, z)
        return self.synthesize(controls, f0_hz, generator=generator)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
