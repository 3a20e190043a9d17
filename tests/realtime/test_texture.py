"""The texture NCA on the live side: the artifact's graphs against torch, its steps and
read-out, the worker thread, the engine's blend and commands, OSC, and grow-render --texture."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from core.errors import ParameterError
from export.contract import TextureSpec
from export.onnx_export import load_run, load_texture
from export.verify import verify_texture
from realtime.commands import NoteOn, SetParam, TexturePerturb, TextureReset
from realtime.engine import Engine
from realtime.model import LoadedModel, load_model
from realtime.osc_namespace import Clamp, OscValueError, translate
from realtime.philox import uniform
from realtime.texture import LAG_FRAMES, TextureGrid
from trainer.level import noise_gram
from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.texture_nca import TextureNCA
from trainer.run_dir import RunDir
from trainer.texture_nca import texture_controls

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def textured(exported_texture: tuple[RunDir, Path]) -> LoadedModel:
    return load_model(exported_texture[1])


def torch_texture(run: RunDir) -> tuple[DDSPAutoencoder, TextureNCA]:
    ddsp, _, config = load_run(run)
    texture = load_texture(run, config)
    assert texture is not None
    return ddsp, texture


def test_the_artifact_carries_the_texture_and_its_graphs_match_torch(
    exported_texture: tuple[RunDir, Path], textured: LoadedModel
) -> None:
    spec = TextureSpec.of(textured.meta)
    assert (spec.frames, spec.frame_stride, spec.channels, spec.width) == (10, 4, 16, 57)
    assert spec.harmonic_cells == 40 and spec.metrics["held_note_hz"] == 330.0
    ddsp, texture = torch_texture(exported_texture[0])
    worst = verify_texture(spec, texture, ddsp)
    assert max(worst.values()) < 1e-4, worst


def test_steps_are_torch_steps_with_the_engine_s_fire_masks(
    exported_texture: tuple[RunDir, Path], textured: LoadedModel
) -> None:
    """The grid after 6 steps (fire masks drawn from the counter-based stream of each step)
    equals torch's texture NCA stepped with the same masks; each step lands LAG_FRAMES frames
    after it starts."""
    _, texture = torch_texture(exported_texture[0])
    grid = TextureGrid(textured.meta, seed=5, max_voices=2, threaded=False)
    spec = grid.spec
    state = texture.seed(1)
    assert np.array_equal(grid.grid, state.numpy())
    draws = np.zeros(spec.frames * spec.width)
    frame = 0
    for n in range(6):
        fire = uniform(5 + 3, n, 0, draws).reshape(1, 1, spec.frames, spec.width)
        with torch.no_grad():
            state = texture(state, torch.from_numpy((fire < spec.fire_rate).astype(np.float32)))
        for _ in range(LAG_FRAMES):  # at 100 steps/s a frame owes a step: one in flight
            grid.advance(frame, 100.0, 100.0)
            frame += 1
        assert grid.steps == n
    grid.advance(frame, 0.0, 100.0)
    assert grid.steps == 6
    assert np.allclose(grid.grid, state.numpy(), atol=1e-5)
    assert np.abs(grid.grid - texture.seed(1).numpy()).max() > 0.01  # it grew


def test_the_read_out_is_the_trainer_s_controls_at_each_control_frame(
    textured: LoadedModel,
) -> None:
    """Frame t plays loop position t mod 40, interpolated between texture frames as the
    trainer's stretch_frames does, at each voice's own pitch and loudness."""
    grid = TextureGrid(textured.meta, seed=0, max_voices=3, threaded=False)
    generator = torch.Generator().manual_seed(3)
    state = torch.rand(1, 16, 10, 57, generator=generator) * 1.2 - 0.1
    state[..., 40] = 0.0  # the wall
    grid.grid[:] = state.numpy()
    loop = 40
    f0 = torch.tensor([110.0, 330.0, 990.0])
    loud = torch.tensor([-50.0, -30.0, -12.0])
    expected = texture_controls(
        state.expand(3, -1, -1, -1),
        f0[:, None].expand(-1, loop),
        loud[:, None].expand(-1, loop),
        harmonic_cells=40,
        n_harmonics=64,
        sample_rate=24000,
        noise_gram=noise_gram(64, sample_rate=24000),
        frame_stride=4,
    )
    for frame in (0, 1, 2, 3, 5, 38, 39, 40, 79, 121):
        amps, mags = grid.controls(frame, f0.numpy()[:, None], loud.numpy()[:, None])
        want_amps = expected.harmonic_amps[:, frame % loop].numpy()
        want_mags = expected.noise_mags[:, frame % loop].numpy()
        assert np.allclose(amps, want_amps, rtol=1e-4, atol=1e-7), frame
        assert np.allclose(mags, want_mags, rtol=1e-4, atol=1e-9), frame
        assert not amps[:, 40:].any()  # harmonics the texture never learned stay silent


def wait_idle(grid: TextureGrid, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while grid._done != grid._job:
        assert time.monotonic() < deadline, "the worker never finished its step"
        time.sleep(0.001)


def test_the_worker_thread_takes_the_same_steps(textured: LoadedModel) -> None:
    here = TextureGrid(textured.meta, seed=1, max_voices=1, threaded=False)
    there = TextureGrid(textured.meta, seed=1, max_voices=1, threaded=True)
    there.start()
    try:
        for frame in range(40):
            here.advance(frame, 30.0, 100.0)
            there.advance(frame, 30.0, 100.0)
            wait_idle(there)  # a worker that keeps up
        assert here.steps == there.steps >= 10 and there.late == 0
        assert np.array_equal(here.grid, there.grid)
    finally:
        there.stop()


def test_a_late_step_is_dropped_never_waited_for(
    textured: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = TextureGrid(textured.meta, seed=1, max_voices=1, threaded=True)
    slow = grid._compute

    def late_compute() -> None:
        time.sleep(0.3)
        slow()

    monkeypatch.setattr(grid, "_compute", late_compute)
    grid.start()
    try:
        before = grid.grid.copy()
        started = time.monotonic()
        for frame in range(LAG_FRAMES + 1):
            grid.advance(frame, 100.0, 100.0)
        assert time.monotonic() - started < 0.2  # the engine did not wait
        assert grid.late == 1 and grid.steps == 0
        assert np.array_equal(grid.grid, before)
    finally:
        grid.stop()


def render(model: LoadedModel, blocksize: int, *, blend: float = 1.0, frames: int = 120):
    engine = Engine(model, sample_rate=48000, voices=2)
    engine.apply(SetParam("texture_blend", blend))
    engine.apply(SetParam("texture_rate", 30.0))
    engine.smoother.jump("texture_blend")
    engine.apply(NoteOn(60.0, 0.9))
    engine.apply(NoteOn(67.0, 0.7))
    total = frames * 480  # 10 ms control frames at 48 kHz
    out = np.concatenate(
        [engine.process(min(blocksize, total - i)) for i in range(0, total, blocksize)]
    )
    return out, engine


def test_the_engine_plays_the_texture_whatever_the_block_size(textured: LoadedModel) -> None:
    reference, engine = render(textured, 1024)
    assert engine.texture is not None and engine.texture.steps >= 30
    assert float(np.abs(reference).max()) > 1e-3
    for blocksize in (64, 65, 333):
        out, _ = render(textured, blocksize)
        assert np.array_equal(out, reference), blocksize
    plain, _ = render(textured, 512, blend=0.0)
    assert np.abs(plain - reference).max() > 1e-3  # the texture is heard


def test_blend_zero_is_the_plain_timbre_untouched(textured: LoadedModel) -> None:
    with_texture, engine = render(textured, 256, blend=0.0)
    assert engine.texture is not None and engine.texture.steps == 0  # not heard: not grown
    plain = Engine(textured, sample_rate=48000, voices=2)
    plain.texture = None
    plain.apply(NoteOn(60.0, 0.9))
    plain.apply(NoteOn(67.0, 0.7))
    without = np.concatenate([plain.process(256) for _ in range(120 * 480 // 256)])
    assert np.array_equal(with_texture[: without.shape[0]], without)


def test_reset_and_perturb_change_the_grid_as_asked(textured: LoadedModel) -> None:
    engine = Engine(textured, sample_rate=48000)
    grid = engine.texture
    assert grid is not None
    grid.grid[:] = 0.5
    engine.apply(TexturePerturb(0.2, 0.5, 2, 4))  # frames 2..4 of 10, harmonics 2..4
    engine.process(480)  # the next control frame (10 ms) carries it out
    hit = grid.grid[0, 3] == 0.0  # any channel
    assert hit[2:5, 1:4].all() and hit.sum() == 3 * 3
    engine.apply(TexturePerturb(0.9, 0.1))  # wraps: frames 9 and 0, every cell but the seeds
    engine.process(480)
    row = grid.grid[0, 0, 9]
    assert (row == 0).sum() == 57 - 2 and row[0] == 0.5 and row[41] == 0.5
    assert (grid.grid[0, 0, 0] == 0).sum() == 55 and (grid.grid[0, 0, 5] == 0.5).all()
    engine.apply(TextureReset())
    engine.process(480)
    assert np.array_equal(grid.grid, grid._seed_grid) and grid.steps == 0


def test_a_model_without_a_texture_refuses_its_commands(demo: LoadedModel) -> None:
    engine = Engine(demo, sample_rate=48000)
    assert engine.texture is None and not demo.meta.texture
    with pytest.raises(ParameterError, match="this model has no texture NCA"):
        engine.apply(TextureReset())
    engine.apply(SetParam("texture_blend", 1.0))  # a parameter it ignores
    assert np.isfinite(engine.process(512)).all()


def test_osc_texture_routes() -> None:
    clamp = Clamp()
    assert translate("/grow/texture/perturb", (0.25, 0.5, 3, 1), [], clamp) == TexturePerturb(
        0.25, 0.5, 1, 3
    )
    assert translate("/grow/texture/perturb", (0.5, 2.0), [], clamp) == TexturePerturb(0.5, 1.0)
    assert clamp.count == 1
    assert translate("/grow/texture/reset", (), [], clamp) == TextureReset()
    assert translate("/grow/texture/blend", (0.3,), [], clamp) == SetParam("texture_blend", 0.3)
    assert translate("/grow/texture/perturb", (0.5,), [], clamp) == TexturePerturb(0.0, 0.5)
    for bad in ((), (0.1, 0.2, 3), (0.1, float("nan")), (0.1, 0.2, 1.5, 2)):
        with pytest.raises(OscValueError):
            translate("/grow/texture/perturb", bad, [], clamp)


def grow_render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "grow-render"), *args], capture_output=True, text=True, timeout=300
    )


def test_grow_render_texture(tmp_path: Path, exported_texture: tuple[RunDir, Path]) -> None:
    model = exported_texture[1]
    out = tmp_path / "t.wav"
    done = grow_render(
        "--model", str(model), "--texture", "--texture-rate", "20", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out)
    # its 96 steps at 20 steps/s, then two 0.4 s loops
    assert rate == 48000 and abs(audio.shape[0] / rate - (96 / 20 + 0.8)) < 0.01
    assert np.abs(audio).max() > 1e-3
    same = tmp_path / "same.wav"
    again = grow_render(
        "--model", str(model), "--texture", "--texture-rate", "20", "--blocksize", "97",
        "--out", str(same),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert np.array_equal(sf.read(same)[0], audio)
    plain = grow_render("--texture", "--out", str(tmp_path / "p.wav"))
    assert plain.returncode == 2 and "this model has no texture NCA" in plain.stderr
    both = grow_render("--texture", "--grow", "nca", "--out", str(tmp_path / "b.wav"))
    assert both.returncode == 2 and "not with --grow" in both.stderr
    none = grow_render("--out", str(tmp_path / "n.wav"))
    assert none.returncode == 2 and "give one of --grow, --score" in none.stderr
    assert not (tmp_path / "p.wav").exists() and not (tmp_path / "b.wav").exists()


def test_the_status_line_shows_the_texture(textured: LoadedModel, demo: LoadedModel) -> None:
    from types import SimpleNamespace

    from realtime.live_cli import status_line
    from realtime.player import LivePlayer

    engine = Engine(textured, sample_rate=48000, texture_thread=True)
    engine.apply(SetParam("texture_blend", 1.0))
    engine.apply(SetParam("texture_rate", 20.0))
    engine.apply(NoteOn(64.0))
    player = LivePlayer(engine, blocksize=480, compute="callback")
    server = SimpleNamespace(accepted=0, rejected_total=0)
    engine.start_workers()
    try:
        out = np.zeros((480, 1), np.float32)
        flags = SimpleNamespace(output_underflow=False)
        for _ in range(100):  # 1 s, a block a control frame, as time passes
            player.callback(out, 480, None, flags)
            time.sleep(0.004)
        assert engine.texture is not None and engine.texture.steps >= 10
        line = status_line(engine, player, server, 0.0)
        assert f"texture 1.00, step {engine.texture.steps} @ 20.0/s" in line
    finally:
        engine.stop_workers()
    assert "texture" not in status_line(Engine(demo, sample_rate=48000), player, server, 0.0)
