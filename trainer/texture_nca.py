"""Texture NCA as pure functions: a 2-D automaton over DDSP control frames (issue 14, part 1).

The state S has C channels over a grid of T texture frames by F frequency cells:
[batch, C, T, F]. The frequency axis holds two strips separated by one dead cell (the wall):

    cells 0 .. K' - 1          one per harmonic (k + 1) f0, up to the highest the recording made
                               audible (K' <= the synth's K; the harmonics above stay silent)
    cell K'                    the wall: always zero
    cells K' + 1 .. K' + B'    the noise envelope, B' points from 0 Hz to the training Nyquist,
                               read out linearly interpolated onto the synth's B noise bands

so the grid reads as the two halves of the synth's controls for each frame, and no rule mixes a
harmonic with a noise band directly (each strip sees zeros beyond its ends: a zero boundary in
frequency). Time is circular: frame T - 1 neighbours frame 0, so a grown texture loops without a
seam. Channel 0 is each cell's level (read as the harmonic distribution or the noise band's
magnitude on a dB-like scale, `cell_amplitude`; `texture_controls` scales them to a loudness)
and its aliveness.

A texture frame spans `frame_stride` control frames: the synth's controls are read between two
texture frames by linear interpolation (`stretch_frames`, circular like the grid), so a 2 s loop
at 100 control frames/s is 50 texture frames of 40 ms at stride 4. Timbre moves slower than pitch
and loudness (which the player or the recording gives, frame by frame), and the rule's cost grows
with the cells: stride 4 makes training 4 times cheaper than a cell per control frame.

One step, as the seeds' textured NCA: perceive every channel with four 3x3 kernels (identity,
Sobel along time, Sobel along frequency, Laplacian), compute an update with the rule (1x1
convolutions) from the perception and the cell's place in the grid (`place_code`: the seeds'
single-pixel seed told each cell where it was by its distance; a seed row along the whole loop
does not), apply it where the random fire mask is 1, then keep only the cells that were alive
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
LEVEL_RANGE_DB = 60.0  # a cell's level 0..1 spans this many dB (`cell_amplitude`)
SEED_NOISE_LEVEL = 0.5  # the seed's noise point: 0.5 x 10^(-1.5), -36 dB (`seed_state`)
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


def grid_width(harmonic_cells: int, noise_cells: int) -> int:
    """F: the harmonic strip, the wall, the noise strip."""
    return harmonic_cells + 1 + noise_cells


def wall_mask(
    harmonic_cells: int, noise_cells: int, *, device: torch.device | None = None
) -> torch.Tensor:
    """[1, 1, 1, F] float: 1 on both strips, 0 at the wall cell."""
    mask = torch.ones(1, 1, 1, grid_width(harmonic_cells, noise_cells), device=device)
    mask[..., harmonic_cells] = 0.0
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


def place_code(frames: int, width: int, cycles: int) -> torch.Tensor:
    """[1, 4 * cycles, T, F]: where each cell lies, for i < cycles: the sine and cosine of
    2 pi 2^i t / T (frame t of the loop: 1, 2, 4, ... turns per loop) and of pi 2^i f / F (cell f
    of the grid: the slowest half a turn across it, so that its two ends differ). Empty for
    cycles = 0.

    The seed is the same at every frame and the rule the same everywhere, so without this code a
    grid could vary along the loop only through the random fire masks (the texture would be one
    timbre all along), and a cell would know which harmonic it is only by counting from the
    seed. Given to the rule beside the perception, it lets each cell grow the level of its own
    harmonic at its own moment. It is periodic in the loop, so the seam stays as smooth as any
    other frame step; and being an input, not a state, no damage can erase it. Growth stays
    local: a cell still lives only next to a living one."""
    time = torch.arange(frames, dtype=torch.float64) / frames  # [T], turns of the loop
    cell = torch.arange(width, dtype=torch.float64) / (2 * width)  # [F], half a turn at most
    turns = 2.0 ** torch.arange(cycles, dtype=torch.float64)  # [cycles]
    along_time = 2.0 * torch.pi * turns[:, None, None] * time[None, :, None]  # [cycles, T, 1]
    along_cells = 2.0 * torch.pi * turns[:, None, None] * cell[None, None, :]  # [cycles, 1, F]
    code = [torch.sin(along_time), torch.cos(along_time)]
    code += [torch.sin(along_cells), torch.cos(along_cells)]
    return torch.cat([c.expand(cycles, frames, width) for c in code]).float()[None]


def texture_step(
    state: torch.Tensor,
    fire: torch.Tensor,
    rule: Callable[[torch.Tensor], torch.Tensor],
    wall: torch.Tensor,
    *,
    code: torch.Tensor | None = None,
    rule_rows: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One step. state: [batch, C, T, F]; fire: [batch, 1, T, F] 0/1 (which cells update);
    rule: its input [batch, 4C + P, T, F] -> update [batch, C, T, F], the input being the
    perception and, when `code` ([1, P, T, F], `place_code`) is given, each cell's place code;
    wall: `wall_mask`. Returns the new state.

    rule_rows, the same rule on cells as rows ([N, 4C + P] -> [N, C]), makes the step run the rule
    only on the cells whose update counts: those that fire, live and are not the wall. The
    result is the same (every other cell's update is multiplied by zero) for about half the
    rule's work or less (the fire rate, times the living share of a growing grid): the trainer's
    path on the CPU. The exported graph keeps the dense rule, whose shapes do not depend on the
    data."""
    alive = alive_mask(state)
    perception = perceive(state)
    if code is not None:
        perception = torch.cat([perception, code.expand(perception.shape[0], -1, -1, -1)], dim=1)
    if rule_rows is None:
        update = rule(perception) * fire
    else:
        update = update_where(perception, fire * alive * wall, rule_rows)
    return (state + update) * alive * wall


def update_where(
    perception: torch.Tensor,
    needed: torch.Tensor,
    rule_rows: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """The rule's update at the cells where `needed` is non-zero, zero elsewhere.

    perception: [batch, R, T, F] (the rule's input); needed: [batch, 1, T, F] (0 or not);
    rule_rows: [N, R] -> [N, C]. Returns [batch, C, T, F]; gradients flow to the perception of
    the needed cells."""
    batch, _, frames, width = perception.shape
    rows = perception.permute(0, 2, 3, 1).reshape(batch * frames * width, -1)  # [cells, R]
    index = needed.reshape(-1).nonzero().squeeze(1)  # [N]
    computed = rule_rows(rows.index_select(0, index))  # [N, C]
    update = computed.new_zeros(rows.shape[0], computed.shape[1]).index_copy(0, index, computed)
    return update.reshape(batch, frames, width, -1).permute(0, 3, 1, 2)  # [batch, C, T, F]


def seed_state(
    batch: int, channels: int, frames: int, harmonic_cells: int, noise_cells: int
) -> torch.Tensor:
    """The seed: at every frame the fundamental (harmonic cell 0) and the lowest noise point
    alive, all channels 1 but the noise point's level, SEED_NOISE_LEVEL (-36 dB: a pitched
    instrument's noise lies tens of dB below its partials); the rest empty. Each strip grows
    upwards from its first cell."""
    state = torch.zeros(batch, channels, frames, grid_width(harmonic_cells, noise_cells))
    state[..., 0] = 1.0
    state[..., harmonic_cells + 1] = 1.0
    state[:, 0, :, harmonic_cells + 1] = SEED_NOISE_LEVEL
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


def stretch_frames(level: torch.Tensor, stride: int) -> torch.Tensor:
    """Texture frames [batch, T, F] -> control frames [batch, T * stride, F]: control frame j
    lies at texture position j / stride, linearly between its two texture frames (frame T - 1
    and frame 0 for the last ones: the loop's seam is as smooth as any other step)."""
    if stride == 1:
        return level
    batch, frames, width = level.shape
    weight = torch.arange(stride, dtype=level.dtype, device=level.device) / stride
    weight = weight[None, None, :, None]  # [1, 1, stride, 1]
    following = torch.roll(level, -1, dims=1)
    stretched = level[:, :, None] * (1.0 - weight) + following[:, :, None] * weight
    return stretched.reshape(batch, frames * stride, width)


def cell_amplitude(level: torch.Tensor) -> torch.Tensor:
    """A cell's level (channel 0, >= 0) -> its linear amplitude: level x 10^(R (level - 1) / 20)
    with R = LEVEL_RANGE_DB, so that 1 is full scale, 0.5 -36 dB, the alive threshold 0.1 -74 dB
    and 0 silence. A timbre's partials and noise bands span 60 dB and more; read linearly, the
    cells that make its quiet part would sit below the alive threshold and die."""
    return level * torch.pow(10.0, LEVEL_RANGE_DB / 20.0 * (level - 1.0))


def read_controls(
    state: torch.Tensor, harmonic_cells: int, *, frame_stride: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel 0, clamped to >= 0, at the control frames (`stretch_frames`), as amplitudes
    (`cell_amplitude`) of the two strips: (harmonic weights [batch, T * stride, K'], noise
    envelope [batch, T * stride, B']); the loudness is applied by the caller."""
    level = stretch_frames(state[:, 0].clamp(min=0.0), frame_stride)  # [batch, T', F]
    amplitude = cell_amplitude(level)
    return amplitude[..., :harmonic_cells], amplitude[..., harmonic_cells + 1 :]


def noise_spread(noise_cells: int, n_bands: int) -> torch.Tensor:
    """[B', B] linear interpolation from the noise strip's B' points (evenly from the first band
    to the last) onto the synth's B bands; the identity when B' = B."""
    position = torch.linspace(0.0, noise_cells - 1.0, n_bands, dtype=torch.float64)
    below = position.floor().clamp(max=noise_cells - 2).long() if noise_cells > 1 else None
    spread = torch.zeros(noise_cells, n_bands, dtype=torch.float64)
    if below is None:
        spread[0] = 1.0
        return spread.float()
    weight = position - below
    bands = torch.arange(n_bands)
    spread[below, bands] = 1.0 - weight
    spread[below + 1, bands] += weight
    return spread.float()


def texture_controls(
    state: torch.Tensor,
    f0_hz: torch.Tensor,
    loudness_db: torch.Tensor,
    *,
    harmonic_cells: int,
    n_harmonics: int,
    sample_rate: int,
    noise_gram: torch.Tensor,
    frame_stride: int = 1,
) -> Controls:
    """The synth's controls (K harmonics, B noise bands: noise_gram is [B, B]) for a grown grid
    [batch, C, T, F] played at f0_hz and loudness_db [batch, T * frame_stride] (a recording's,
    or a held note's): the harmonic strip as the first K' harmonics (the rest silent: the texture
    learned nothing of harmonics its recording never made audible), zero above Nyquist,
    normalised to the harmonic distribution; the noise strip spread onto the B bands
    (`noise_spread`) as their magnitudes; both scaled together so that each frame's A-weighted
    level is loudness_db (trainer/level.py, as a loudness-level DDSP model). The texture sets
    the timbre and how it moves; the player sets pitch and level."""
    harmonic, noise_envelope = read_controls(state, harmonic_cells, frame_stride=frame_stride)
    harmonic = F.pad(harmonic, (0, n_harmonics - harmonic_cells))  # [batch, T', K]
    spread = noise_spread(noise_envelope.shape[-1], noise_gram.shape[0]).to(noise_envelope)
    noise_mags = noise_envelope @ spread  # [batch, T', B]
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
