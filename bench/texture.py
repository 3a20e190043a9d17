"""Cost of the texture NCA on the live side, for an artifact with a texture (a random one of the
default size when none is given): one step of the grid (onnxruntime, one thread: what the
worker thread spends per step), the read-out per control frame (1 and 8 voices), and the engine
at 48 kHz, 128-sample blocks, with the texture heard (blend 1, growing at 12 steps/s, stepped
in line as a render does) against the plain timbre, as x real time on one core.

    python -m bench.texture [--model m.onnx] [--seconds 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from realtime.commands import NoteOn, SetParam
from realtime.engine import Engine
from realtime.model import LoadedModel, load_model
from realtime.texture import TextureGrid

CHORD = (57.0, 60.0, 64.0, 67.0, 69.0, 72.0, 76.0, 79.0)


def random_texture_model(folder: Path) -> Path:
    """A run of random weights with a texture of the default size (2 s, 50 x 65 cells)."""
    from tests.export_fixtures import add_texture, export_run, make_run

    run = make_run(folder / "run")
    add_texture(run, frames=50, frame_stride=4)
    return export_run(run, folder / "texture.onnx")


def median_us(call, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e6 * float(np.median(times))


def engine_speed(model: LoadedModel, voices: int, blend: float, seconds: float) -> float:
    engine = Engine(model, sample_rate=48000, voices=voices)
    engine.apply(SetParam("texture_blend", blend))
    engine.apply(SetParam("texture_rate", 12.0))
    for note in CHORD[:voices]:
        engine.apply(NoteOn(note))
    engine.process(4800)
    out = np.zeros(128, np.float32)
    blocks = int(seconds * 48000 / 128)
    start = time.perf_counter()
    for _ in range(blocks):
        engine.process(128, out=out)
    return blocks * 128 / 48000 / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.model or random_texture_model(Path(scratch))
        model = load_model(path)
        if not model.meta.texture:
            print(f"{path} has no texture NCA", file=sys.stderr)
            return 2
        grid = TextureGrid(model.meta, seed=0, max_voices=8, threaded=False)
        spec = grid.spec
        print(
            f"texture: {spec.frames} x {spec.width} cells, {spec.channels} channels "
            f"({spec.control_frames / model.meta.frame_rate:g} s loop)"
        )
        print("| part | cost |")
        print("|---|---|")
        print(f"| one step (worker thread) | {median_us(grid._compute, 50) / 1000:.2f} ms |")
        for n in (1, 8):
            f0 = np.full((n, 1), 220.0, np.float32)
            loud = np.full((n, 1), -20.0, np.float32)
            cost = median_us(lambda f0=f0, loud=loud: grid.controls(7, f0, loud), 500)
            print(
                f"| read-out, {n} voice{'s' if n > 1 else ''} (per control frame) | {cost:.0f} us |"
            )
        print()
        print("x real time, 48 kHz, 128-sample blocks (the texture's steps in line):")
        print("| voices | plain timbre | texture heard |")
        print("|---|---|---|")
        for voices in (1, 8):
            plain = engine_speed(model, voices, 0.0, args.seconds)
            heard = engine_speed(model, voices, 1.0, args.seconds)
            print(f"| {voices} | {plain:.1f} | {heard:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
