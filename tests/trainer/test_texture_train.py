"""The texture phase's parts: the target stretch, damage, the loop's interpolation, the pool
trainer (it learns a recording's stretch, resumes exactly) and the report's seam measure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from core.errors import AudioFileError, TrainingError
from core.features import Features
from trainer.dataset import SegmentDataset
from trainer.models.ddsp import DDSPAutoencoder, ModelConfig
from trainer.models.texture_nca import TextureConfig, TextureNCA
from trainer.run_dir import RunDir
from trainer.texture_nca import stretch_frames
from trainer.texture_report import expected_power, frame_levels_db, looped_controls, seam_metrics
from trainer.texture_train import TextureTrainConfig, TextureTrainer, choose_stretch, damage_region

SR, HOP = 16000, 160


def features(n_frames: int, *, voiced: np.ndarray, loudness: np.ndarray) -> Features:
    return Features(
        audio=np.zeros(n_frames * HOP, dtype=np.float32),
        f0_hz=np.full(n_frames, 220.0, dtype=np.float32),
        voiced=voiced,
        loudness_db=loudness.astype(np.float32),
        mfcc=np.zeros((n_frames, 30), dtype=np.float32),
    )


def test_the_stretch_is_the_steadiest_loudest_one_or_the_one_asked_for() -> None:
    n = 400
    voiced = np.zeros(n, dtype=bool)
    voiced[100:300] = True
    loud = np.full(n, -60.0)
    loud[200:300] = -20.0  # the loudest voiced part
    other = features(n, voiced=voiced, loudness=loud)
    quiet = features(n, voiced=np.ones(n, dtype=bool), loudness=np.full(n, -70.0))
    dataset = SegmentDataset([other, quiet], ["a", "b"], hop=HOP, segment_frames=50, val_fraction=0)
    # a 250-frame stretch: file b is voiced throughout, and more voiced frames beat loudness
    assert choose_stretch(dataset, 250) == choose_stretch(dataset, 250, file=1, start=0)
    assert choose_stretch(dataset, 100).file == 0  # both all voiced: the louder
    only_a = SegmentDataset([other], ["a"], hop=HOP, segment_frames=50, val_fraction=0)
    picked = choose_stretch(only_a, 100)
    assert picked.start == 200 and picked.file == 0  # voiced and loud
    assert picked.features(only_a).n_frames == 100
    with pytest.raises(AudioFileError, match="a: a 100-frame texture stretch from frame 350"):
        choose_stretch(only_a, 100, start=350)
    with pytest.raises(AudioFileError, match="no training file holds a 500-frame"):
        choose_stretch(only_a, 500)


def test_damage_zeroes_a_region_that_wraps_in_time_and_spares_the_seed() -> None:
    k, frames, width = 4, 6, 9  # cells 0..3 harmonics, 4 the wall, 5..8 noise bands
    state = torch.ones(2, 3, frames, width)
    hit = damage_region(state, frames=(4, 3), cells=(0, width), harmonic_cells=k)
    dead = hit[0, 0] == 0
    assert dead[[4, 5, 0]].sum() == 3 * (width - 2)  # frames 4, 5 and 0, all but the seeds
    assert not dead[[1, 2, 3]].any()
    assert (hit[:, :, :, 0] == 1).all() and (hit[:, :, :, k + 1] == 1).all()
    assert torch.equal(hit[0], hit[1]) and torch.equal(hit[:, 0], hit[:, 2])
    partial = damage_region(state, frames=(0, 1), cells=(2, 4), harmonic_cells=k)
    assert (partial == 0).sum() == 2 * 3 * 2


def test_the_loop_is_interpolated_and_wraps_smoothly() -> None:
    level = torch.tensor([[[0.0], [1.0], [4.0]]])  # [1, T=3, F=1]
    out = stretch_frames(level, 2)[0, :, 0]
    assert out.tolist() == [0.0, 0.5, 1.0, 2.5, 4.0, 2.0]  # the last frame heads back to frame 0
    assert torch.equal(stretch_frames(level, 1), level)


def test_seam_measure_finds_a_jump_at_the_loop_point() -> None:
    loop_frames, loops = 40, 3
    t = np.arange(loops * loop_frames * HOP) / SR
    steady = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    smooth = seam_metrics(frame_levels_db(steady**2, hop=HOP), loop_frames)
    assert smooth["seam_level_step_db"] <= smooth["max_frame_level_step_db"] + 0.05
    # a ramp that falls back at every loop point: a seam
    ramp = np.tile(np.linspace(0.1, 1.0, loop_frames * HOP), loops)
    seamed = seam_metrics(frame_levels_db((steady * ramp) ** 2, hop=HOP), loop_frames)
    assert seamed["seam_level_step_db"] > 3 * seamed["max_frame_level_step_db"]


def small_texture(**changes: Any) -> TextureNCA:
    torch.manual_seed(0)
    return TextureNCA(
        TextureConfig(
            **{
                "channels": 8,
                "hidden": (32, 16),
                "frames": 5,
                "frame_stride": 4,
                "harmonic_cells": 8,
                "noise_cells": 4,
                "n_harmonics": 8,
                "n_noise_bands": 8,
                **changes,
            }
        )
    )


def target_stretch(ddsp: DDSPAutoencoder, frames: int) -> Features:
    """A stretch the synth can play: a tone whose brightness swells and fades within the loop
    (harmonics 1..8 at 330 Hz, its distribution moving), with faint noise."""
    t = torch.arange(frames, dtype=torch.float32) / frames
    k = torch.arange(1, 9, dtype=torch.float32)
    brightness = 0.3 + 0.6 * torch.sin(np.pi * t) ** 2  # [T]
    distribution = brightness[:, None] ** (k - 1)
    distribution = distribution / distribution.sum(-1, keepdim=True)
    amps = 0.2 * distribution[None]  # [1, T, K]
    f0 = torch.full((1, frames), 330.0)
    noise = torch.full((1, frames, 8), 0.002)
    from trainer.controls import Controls

    controls = Controls(torch.full((1, frames), 0.2), distribution[None], amps, noise)
    audio = ddsp.synthesize(controls, f0, generator=torch.Generator().manual_seed(5)).audio[0]
    from core.features import a_weighted_loudness

    loud = a_weighted_loudness(audio.numpy(), sample_rate=SR, hop=HOP)[:frames]
    return Features(
        audio=audio.numpy(),
        f0_hz=f0[0].numpy(),
        voiced=np.ones(frames, dtype=bool),
        loudness_db=loud,
        mfcc=np.zeros((frames, 30), dtype=np.float32),
    )


def test_the_seam_is_measured_on_the_expected_level_not_one_noise_draw() -> None:
    """expected_power is the mean square over every noise draw: 400 draws average to it within
    a few per cent in every frame, where one draw alone is off by far more."""
    texture = small_texture()
    ddsp = DDSPAutoencoder(ModelConfig(sample_rate=SR, hop=HOP, n_harmonics=8, n_noise_bands=8))
    c = texture.config
    grid = torch.zeros(1, c.channels, c.frames, c.width)  # every cell lit, the noise cells too
    grid[:, 0] = torch.rand(c.frames, c.width, generator=torch.Generator().manual_seed(1))
    loops = 2
    f0 = np.full(loops * texture.config.control_frames, 330.0, dtype=np.float32)
    loud = np.full_like(f0, -30.0)
    power = frame_levels_db(expected_power(texture, ddsp, grid, f0, loud), hop=HOP)
    controls, f0_t = looped_controls(texture, ddsp, grid.expand(400, -1, -1, -1), f0, loud)
    white = torch.rand(400, f0.size * HOP, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        audio = ddsp.synthesize_with_noise(controls, f0_t, white).audio.double().numpy()
    drawn = frame_levels_db(np.mean(audio**2, axis=0), hop=HOP)
    one = frame_levels_db(audio[0] ** 2, hop=HOP)
    assert np.abs(drawn - power).max() < 0.2  # dB; 400 draws' own spread
    assert np.abs(one - power).max() > 2 * np.abs(drawn - power).max()


def make_trainer(
    tmp_path: Path, texture: TextureNCA | None = None, **kwargs: Any
) -> TextureTrainer:
    texture = texture if texture is not None else small_texture()
    ddsp = DDSPAutoencoder(ModelConfig(sample_rate=SR, hop=HOP, n_harmonics=8, n_noise_bands=8))
    config = TextureTrainConfig(
        batch_size=4,
        pool_size=8,
        min_grow_steps=10,
        max_grow_steps=16,
        fft_sizes=(512, 256, 64),
        **kwargs,
    )
    target = target_stretch(ddsp, texture.config.control_frames)
    return TextureTrainer(
        texture, ddsp, target, config, RunDir(tmp_path), device=torch.device("cpu"), log=print
    )


def test_the_texture_learns_the_stretch(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, steps=60, learning_rate=3e-3, checkpoint_every=1000)
    assert trainer.fit(minutes=None, progress=False) == "steps"
    loss = np.array(trainer.state.history["loss"])
    assert loss[-10:].mean() < 0.8 * loss[:5].mean()
    with torch.no_grad():  # grown from the seed, it sounds closer to the stretch than the seed
        seed = trainer.texture.seed(1)
        grown = trainer.texture.grow(seed, 16, generator=torch.Generator().manual_seed(9))
        assert float(trainer.loss_of(grown)[0]) < 0.85 * float(trainer.loss_of(seed)[0])
    assert (tmp_path / "texture.pt").is_file()


def test_the_texture_phase_resumes_exactly(tmp_path: Path) -> None:
    straight = make_trainer(tmp_path / "a", steps=6, checkpoint_every=1000)
    straight.fit(minutes=None, progress=False)
    first = make_trainer(tmp_path / "b", steps=4, checkpoint_every=1000)
    first.fit(minutes=None, progress=False)
    second = make_trainer(tmp_path / "b", steps=6, checkpoint_every=1000)
    second.resume()
    assert second.state.step == 4
    second.fit(minutes=None, progress=False)
    assert second.state.history["loss"] == straight.state.history["loss"]
    for a, b in zip(straight.texture.parameters(), second.texture.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(straight.pool, second.pool)


def test_a_texture_checkpoint_that_does_not_fit_the_settings_is_named(tmp_path: Path) -> None:
    """texture.pt from other settings (here a rule without the place code): a TrainingError
    naming the file and config.json, not a traceback from torch."""
    make_trainer(tmp_path, small_texture(place_code=0), steps=1).fit(minutes=None, progress=False)
    other = make_trainer(tmp_path, steps=2)
    with pytest.raises(
        TrainingError, match=r"texture\.pt: its texture weights do not fit .*config"
    ):
        other.resume()
