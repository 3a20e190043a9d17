"""The texture NCA's step: its kernels, boundaries (circular in time, zero in frequency, the wall
between the strips), locality, alive masking and the untrained rule."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from core.errors import ParameterError
from core.features import a_weighted_loudness
from trainer.dsp import filtered_noise, harmonic_synth
from trainer.level import noise_gram
from trainer.models.texture_nca import TextureConfig, TextureNCA
from trainer.texture_nca import (
    alive_mask,
    draw_fire,
    perceive,
    place_code,
    read_controls,
    seed_state,
    texture_controls,
    texture_step,
    wall_mask,
)

K, B, T, C = 6, 4, 8, 3
WIDTH = K + 1 + B


def random_rule(channels: int, seed: int = 0) -> torch.nn.Module:
    """A rule with random (not zero) weights, so that a step changes what it may change."""
    torch.manual_seed(seed)
    rule = torch.nn.Sequential(
        torch.nn.Conv2d(4 * channels, 16, 1), torch.nn.Tanh(), torch.nn.Conv2d(16, channels, 1)
    )
    return rule


def test_perception_kernels_and_boundaries() -> None:
    state = torch.zeros(1, 1, T, WIDTH)
    state[0, 0, 0, 0] = 1.0  # first frame, lowest cell
    seen = perceive(state)[0]  # [4, T, F]
    assert seen.shape == (4, T, WIDTH)
    assert seen[0, 0, 0] == 1.0 and seen[0].sum() == 1.0  # identity
    # Sobel along time: the next frame sees it behind (+), the last frame (circular) ahead (-)
    assert seen[1, 1, 0] == pytest.approx(-2 / 8) and seen[1, T - 1, 0] == pytest.approx(2 / 8)
    assert seen[1, 1, 1] == pytest.approx(-1 / 8)
    # Sobel along frequency: the cell above sees it below
    assert seen[2, 0, 1] == pytest.approx(-2 / 8)
    assert seen[3, 0, 0] == pytest.approx(-12 / 16) and seen[3, 1, 1] == pytest.approx(1 / 16)
    # zero boundary in frequency: nothing wraps to the top cell
    assert not seen[:, :, WIDTH - 1].any()
    # circular in time: the last frame is a neighbour
    assert seen[3, T - 1, 0] == pytest.approx(2 / 16)


def test_a_step_is_local_and_loops_in_time() -> None:
    """Changing one cell changes at most its 3x3 neighbourhood, frame T - 1 neighbouring 0."""
    rule, wall = random_rule(C), wall_mask(K, B)
    state = seed_state(1, C, T, K, B) * 0.5 + 0.3  # every cell alive
    state = state * wall
    fire = torch.ones(1, 1, T, WIDTH)
    changed = state.clone()
    changed[0, :, 0, 2] += 0.7
    with torch.no_grad():
        diff = (
            texture_step(changed, fire, rule, wall) - texture_step(state, fire, rule, wall)
        ).abs()
    touched = diff.abs().sum(dim=(0, 1)) > 0  # [T, F]
    expected = torch.zeros(T, WIDTH, dtype=torch.bool)
    for dt in (-1, 0, 1):
        for df in (-1, 0, 1):
            expected[dt % T, 2 + df] = True
    assert torch.equal(touched, expected)


def test_time_shifts_commute_with_a_step() -> None:
    rule, wall = random_rule(C, seed=1), wall_mask(K, B)
    torch.manual_seed(5)
    state = torch.rand(2, C, T, WIDTH) * wall
    fire = draw_fire(2, T, WIDTH)
    with torch.no_grad():
        rolled_after = torch.roll(texture_step(state, fire, rule, wall), 3, dims=2)
        after_rolled = texture_step(
            torch.roll(state, 3, dims=2), torch.roll(fire, 3, dims=2), rule, wall
        )
    assert torch.allclose(rolled_after, after_rolled, atol=1e-6)


def test_the_wall_keeps_the_strips_apart() -> None:
    """The wall cell stays zero, and the top harmonic never changes the lowest noise band."""
    rule, wall = random_rule(C, seed=2), wall_mask(K, B)
    state = (torch.rand(1, C, T, WIDTH) + 0.2) * wall
    changed = state.clone()
    changed[0, :, :, K - 1] += 1.0
    fire = torch.ones(1, 1, T, WIDTH)
    with torch.no_grad():
        a, b = texture_step(state, fire, rule, wall), texture_step(changed, fire, rule, wall)
    assert not a[..., K].any() and not b[..., K].any()
    assert torch.equal(a[..., K + 1 :], b[..., K + 1 :])


def test_dead_cells_stay_dead_and_unfired_cells_keep_their_state() -> None:
    rule, wall = random_rule(C, seed=3), wall_mask(K, B)
    state = seed_state(1, C, T, K, B)
    state[0, 0, :, 4] = 0.05  # below the threshold, no alive neighbour: dies
    assert not alive_mask(state)[0, 0, :, 4].any()
    fire = torch.zeros(1, 1, T, WIDTH)
    with torch.no_grad():
        after = texture_step(state, fire, rule, wall)
    assert not after[..., 4].any()
    alive = alive_mask(state).bool().expand_as(state)
    assert torch.equal(after[alive], state[alive])  # nothing fired: alive cells unchanged


def small_config(**changes: Any) -> TextureConfig:
    """The tests' grid: C channels, T frames, strips of K harmonics and B noise points."""
    return TextureConfig(
        **{
            "channels": C,
            "hidden": (8, 8),
            "frames": T,
            "harmonic_cells": K,
            "noise_cells": B,
            "n_harmonics": K,
            "n_noise_bands": B,
            **changes,
        }
    )


def test_the_untrained_nca_leaves_the_seed_as_it_is() -> None:
    nca = TextureNCA(small_config())
    seed = nca.seed(2)
    with torch.no_grad():
        grown = nca.grow(seed, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(grown, seed)
    harmonics, noise = read_controls(seed, K)
    assert harmonics.shape == (2, T, K) and noise.shape == (2, T, B)
    assert torch.equal(harmonics[..., 0], torch.ones(2, T)) and not harmonics[..., 1:].any()
    quiet = 0.5 * 10 ** (-1.5)  # the seed's noise point: level 0.5, -36 dB
    assert torch.allclose(noise[..., 0], torch.full((2, T), quiet)) and not noise[..., 1:].any()


def test_a_trained_rule_grows_from_the_seed() -> None:
    """With a rule that adds to every channel and every cell firing, growth spreads one cell per
    step up each strip (and never across the wall)."""
    config = small_config(fire_rate=1.0)
    nca = TextureNCA(config)
    last = nca.rule[-1]
    assert isinstance(last, torch.nn.Conv2d) and last.bias is not None
    torch.nn.init.constant_(last.bias, 0.5)
    with torch.no_grad():
        grown = nca.grow(nca.seed(1), 3, generator=torch.Generator().manual_seed(0))
    level = grown[0, 0]  # [T, F]
    assert (level[:, :4] > 0).all() and not level[:, 4:K].any()  # harmonics 1..4 after 3 steps
    assert not level[:, K].any()
    assert (level[:, K + 1 : K + 5] > 0).all()


def test_the_place_code_tells_every_cell_apart_and_loops_without_a_seam() -> None:
    """Each cell's code differs from every other's; along time the step from the last frame to
    the first is the same size as between any two neighbours (the code loops smoothly), while
    the frequency axis does not wrap (its slowest turn runs one way, from end to end)."""
    frames, width = 50, 47
    code = place_code(frames, width, 4)[0]  # [16, T, F]
    assert code.shape == (16, frames, width)
    cells = code.reshape(16, -1).T  # [T * F, 16]
    apart = torch.cdist(cells, cells) + torch.eye(frames * width) * 1e3
    assert float(apart.min()) > 0.05
    time_part = code[:8, :, 0].T  # [T, 8]
    steps = (torch.roll(time_part, -1, dims=0) - time_part).norm(dim=1)  # t -> t + 1, T - 1 -> 0
    assert torch.allclose(steps, steps[0].expand(frames), rtol=1e-5)
    assert torch.equal(code[:8, :, 0], code[:8, :, width - 1])  # the time half is the same per cell
    slowest = code[12, 0, :]  # the cosine of half a turn across the cells: 1 down to about -1
    assert bool((slowest[1:] < slowest[:-1]).all()) and float(slowest[-1]) < -0.99
    assert place_code(frames, width, 0).shape == (1, 0, frames, width)


@pytest.mark.parametrize("cycles", [0, 4])
def test_only_the_place_code_lets_a_grid_vary_along_the_loop(cycles: int) -> None:
    """From the seed (the same at every frame) with every cell firing, a rule without the place
    code can only grow the same column at every frame; with it, the frames grow apart."""
    nca = TextureNCA(small_config(place_code=cycles))
    torch.manual_seed(6)
    for layer in nca.rule:
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.normal_(layer.weight, std=0.5)
    fire = torch.ones(1, 1, T, WIDTH)
    with torch.no_grad():
        grown = nca(nca(nca.seed(1), fire), fire)
    spread = float((grown - grown[:, :, :1]).abs().max())  # largest difference from frame 0
    if cycles:
        assert spread > 0.05
    else:
        assert spread == 0.0


def test_a_texture_saved_before_the_place_code_loads_without_one() -> None:
    stored = small_config().to_dict()
    del stored["place_code"]
    assert TextureConfig.from_dict(stored).place_code == 0
    assert TextureConfig.from_dict(small_config().to_dict()) == small_config()


def test_the_fired_step_equals_the_dense_step_with_its_gradients() -> None:
    """Training's step (the rule run only on the cells that fire and live) against the exported
    dense step, over a growth from the seed: the same grids and the same parameter gradients to
    float rounding; and it really skipped cells (a rule that saw every cell would not differ)."""
    nca = TextureNCA(small_config(frames=12, fire_rate=0.5))
    torch.manual_seed(3)
    for layer in nca.rule:
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.normal_(layer.weight, std=0.3)
            assert layer.bias is not None
            torch.nn.init.normal_(layer.bias, std=0.1)

    def grown_and_gradients(fired: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        generator = torch.Generator().manual_seed(4)
        states = [nca.seed(3)]
        for _ in range(6):
            fire = draw_fire(3, 12, WIDTH, rate=0.5, generator=generator)
            step = nca.step_fired if fired else nca
            states.append(step(states[-1], fire))
        nca.zero_grad()
        states[-1].square().sum().backward()
        grads = [p.grad for p in nca.parameters()]
        assert all(g is not None for g in grads)
        return [s.detach() for s in states], [g.clone() for g in grads if g is not None]

    dense, dense_grads = grown_and_gradients(fired=False)
    fired, fired_grads = grown_and_gradients(fired=True)
    for a, b in zip(dense, fired, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(dense[-1], dense[0])  # the rule did grow something
    for a, b in zip(dense_grads, fired_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(a.abs().max()))
    assert any(float(g.abs().max()) > 0 for g in dense_grads)

    # Only the needed rows reach the rule: count them on one step of a half-grown grid.
    seen: list[int] = []

    def counting_rule(rows: torch.Tensor) -> torch.Tensor:
        seen.append(rows.shape[0])
        return nca.rule_on_rows(rows)

    wall = wall_mask(K, B)
    state, fire = dense[2], draw_fire(3, 12, WIDTH, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        stepped = texture_step(state, fire, nca.rule, wall, code=nca.code, rule_rows=counting_rule)
    needed = int((alive_mask(state) * fire * wall).sum())
    assert seen == [needed] and 0 < needed < 3 * 12 * WIDTH
    assert torch.allclose(stepped, nca(state, fire), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        dict(channels=0),
        dict(frames=2),
        dict(fire_rate=0.0),
        dict(steps=0),
        dict(hidden=(0, 4)),
        dict(harmonic_cells=65),
        dict(noise_cells=0),
        dict(frame_stride=0),
        dict(place_code=-1),
    ],
)
def test_bad_settings_are_named(bad: dict[str, Any]) -> None:
    with pytest.raises(ParameterError):
        TextureConfig(**bad)


@pytest.mark.parametrize("f0", [110.0, 440.0])
def test_a_texture_plays_at_the_loudness_it_is_given(f0: float) -> None:
    """Whatever the grid, the synth's audio from texture_controls reads the loudness given (the
    features' A-weighted level, steady frames), and nothing sounds above Nyquist. The grid is
    random in every cell of its 15 texture frames, read at 4 control frames each; its 40
    harmonic cells play harmonics 1..40 of 64, its 8 noise cells spread onto 32 bands."""
    rate, hop, frames, k, b = 24000, 240, 60, 64, 32
    cells_k, cells_b = 40, 8
    gen = torch.Generator().manual_seed(int(f0))
    state = torch.rand(1, 4, frames // 4, cells_k + 1 + cells_b, generator=gen)
    state = state * wall_mask(cells_k, cells_b)
    f0_hz = torch.full((1, frames), f0)
    loudness = torch.linspace(-40.0, -12.0, frames)[None]
    controls = texture_controls(
        state,
        f0_hz,
        loudness,
        frame_stride=4,
        harmonic_cells=cells_k,
        n_harmonics=k,
        sample_rate=rate,
        noise_gram=noise_gram(b, sample_rate=rate),
    )
    assert not controls.harmonic_amps[..., f0_hz[0, 0] * torch.arange(1, k + 1) >= rate / 2].any()
    assert not controls.harmonic_amps[..., cells_k:].any()  # harmonics it has no cell for
    harmonic, _ = harmonic_synth(f0_hz, controls.harmonic_amps, sample_rate=rate, hop=hop)
    white = torch.rand(1, frames * hop, generator=gen) * 2 - 1
    audio = harmonic + filtered_noise(controls.noise_mags, white, hop=hop)
    measured = a_weighted_loudness(audio[0].numpy(), sample_rate=rate, hop=hop)[:frames]
    steady = slice(10, frames - 10)
    error = measured[steady] - loudness[0, steady].numpy()
    assert abs(float(error.mean())) < 0.5 and float(abs(error).max()) < 1.5


def test_the_noise_envelope_spreads_linearly_onto_the_bands() -> None:
    from trainer.texture_nca import noise_spread

    assert torch.equal(noise_spread(6, 6), torch.eye(6))
    spread = noise_spread(4, 10)  # points at bands 0, 3, 6 and 9
    assert torch.allclose(spread.sum(dim=0), torch.ones(10))
    envelope = torch.tensor([1.0, 4.0, 4.0, 0.0])
    assert torch.allclose(
        envelope @ spread, torch.tensor([1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0, 8 / 3, 4 / 3, 0.0])
    )
