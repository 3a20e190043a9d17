"""Texture NCA as pure functions: a 2-D automaton over DDSP control frames (issue 14, part 1).

The state S has C channels over a grid of T control frames by F frequency cells:
[batch, C, T, F]. The frequency axis holds two strips separated by one dead cell (the wall):

    cells 0 .. K - 1           one per harmonic (k + 1) f0
    cell K                     the wall: always zero
    cells K + 1 .. K + B       one per noise band, 0 Hz to the training Nyquist

so the grid reads as the two halves of the synth's controls for each frame, and no rule mixes a
harmonic with a noise band directly (each strip sees zeros beyond its ends: a zero boundary in
frequency). Time is circular: frame T - 1 neighbours frame 0, so a grown texture loops without a
seam. Channel 0 is each cell's level (read as the harmonic distribution or the noise band's
magnitude, `read_controls`; `texture_controls` scales them to a loudness) and its aliveness.

One step, as the seeds' textured NCA: perceive every channel with four 3x3 kernels (identity,
Sobel along time, Sobel along frequency, Laplacian), compute an update with the rule (1x1
convolutions), apply it where the random fire mask is 1, then keep only the cells that were alive
before the step (channel 0 above the threshold somewhere in the 3x3 neighbourhood: a 3x3 max-pool
with the same boundaries). Using the pre-step alive mask keeps a step strictly local: changing
cell (t, f) can change only its 3x3 neighbourhood.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from trainer.controls import Controls, normalized
from trainer.dsp import nyquist_mask
from trainer.level import controls_mean_square, gain_to_loudness

ALIVE_THRESHOLD = 0.1
N_KERNELS = 4  # identity, Sobel (time), Sobel (frequency), Laplacian

# [dt, df] kernels, rows the previous, this and the next frame, columns the cell below, the cell
# and the cell above in frequency.
_KERNELS = (
    ((0.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0)),
    ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0)),  # / 8: d/dt
    ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0)),  # / 8: d/df
    ((1.0, 2.0, 1.0), (2.0, -12.0, 2.0), (1.0, 2.0, 1.0)),  # / 16
)
_SCALES = (1.0, 1.0 / 8.0, 1.0 / 8.0, 1.0 / 16.0)


def grid_width(n_harmonics: int, n_noise_bands: int) -> int:
    """F: the harmonic strip, the wall, the noise strip."""
    return n_harmonics + 1 + n_noise_bands


def wall_mask(
    n_harmonics: int, n_noise_bands: int, *, device: torch.device | None = None
) -> torch.Tensor:
    """[1, 1, 1, F] float: 1 on both strips, 0 at the wall cell."""
    mask = torch.ones(1, 1, 1, grid_width(n_harmonics, n_noise_bands), device=device)
    mask[..., n_harmonics] = 0.0
    return mask


def _pad(state: torch.Tensor) -> torch.Tensor:
    """One cell on every side: circular in time (dim 2), zeros in frequency (dim 3)."""
    return F.pad(F.pad(state, (1, 1, 0, 0)), (0, 0, 1, 1), mode="circular")


def perceive(state: torch.Tensor) -> torch.Tensor:
    """[batch, C, T, F] -> [batch, 4C, T, F]: per channel the identity, Sobel along time and
    frequency and the Laplacian (circular in time, zero beyond the frequency edges)."""
    channels = int(state.shape[1])
    kernels = torch.tensor(_KERNELS, dtype=state.dtype, device=state.device)  # [4, 3, 3]
    kernels = kernels * torch.tensor(_SCALES, dtype=state.dtype, device=state.device)[:, None, None]
    weight = kernels.repeat(channels, 1, 1)[:, None]  # [4C, 1, 3, 3], grouped per channel
    return F.conv2d(_pad(state), weight, groups=channels)


def alive_mask(state: torch.Tensor, *, threshold: float = ALIVE_THRESHOLD) -> torch.Tensor:
    """[batch, C, T, F] -> [batch, 1, T, F] float (1 = alive): channel 0 above the threshold in
    the 3x3 neighbourhood."""
    return (F.max_pool2d(_pad(state[:, :1]), 3, stride=1) > threshold).to(state.dtype)


def texture_step(
    state: torch.Tensor,
    fire: torch.Tensor,
    rule: Callable[[torch.Tensor], torch.Tensor],
    wall: torch.Tensor,
) -> torch.Tensor:
    """One step. state: [batch, C, T, F]; fire: [batch, 1, T, F] 0/1 (which cells update);
    rule: perception [batch, 4C, T, F] -> update [batch, C, T, F]; wall: `wall_mask`.
    Returns the new state."""
    alive = alive_mask(state)
    update = rule(perceive(state)) * fire
    return (state + update) * alive * wall


def seed_state(
    batch: int, channels: int, frames: int, n_harmonics: int, n_noise_bands: int
) -> torch.Tensor:
    """The seed: at every frame the fundamental (harmonic cell 0) and the lowest noise band
    alive, all channels 1; the rest empty. Each strip grows upwards from its first cell."""
    state = torch.zeros(batch, channels, frames, grid_width(n_harmonics, n_noise_bands))
    state[..., 0] = 1.0
    state[..., n_harmonics + 1] = 1.0
    return state


def draw_fire(
    batch: int,
    frames: int,
    width: int,
    *,
    rate: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random update mask [batch, 1, T, F] of 0/1, each cell firing with probability `rate`."""
    return (torch.rand(batch, 1, frames, width, generator=generator) < rate).float()


def read_controls(state: torch.Tensor, n_harmonics: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel 0, clamped to >= 0, as the synth's two halves: (harmonic distribution
    [batch, T, K], noise band magnitudes [batch, T, B]); the level is applied by the caller."""
    level = state[:, 0].clamp(min=0.0)  # [batch, T, F]
    return level[..., :n_harmonics], level[..., n_harmonics + 1 :]


def texture_controls(
    state: torch.Tensor,
    f0_hz: torch.Tensor,
    loudness_db: torch.Tensor,
    *,
    n_harmonics: int,
    sample_rate: int,
    noise_gram: torch.Tensor,
) -> Controls:
    """The synth's controls for a grown grid played at f0_hz and loudness_db [batch, T] (a
    recording's, or a held note's): the harmonic strip, zero above Nyquist, normalised to the
    harmonic distribution; the noise strip as the band magnitudes; both scaled together so that
    each frame's A-weighted level is loudness_db (trainer/level.py, as a loudness-level DDSP
    model). The texture sets the timbre and how it moves; the player sets pitch and level."""
    harmonic, noise_mags = read_controls(state, n_harmonics)  # [batch, T, K], [batch, T, B]
    weights = harmonic * nyquist_mask(f0_hz, n_harmonics, sample_rate=sample_rate)
    distribution = normalized(weights)
    mean_square = controls_mean_square(
        distribution, f0_hz, noise_mags, sample_rate=sample_rate, noise_gram=noise_gram
    )
    gain = gain_to_loudness(mean_square, loudness_db)  # [batch, T]
    return Controls(
        amplitude=gain,
        distribution=distribution,
        harmonic_amps=gain[..., None] * distribution,
        noise_mags=noise_mags * gain[..., None],
    )
