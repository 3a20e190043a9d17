"""How close any texture could come: for each run with a texture phase, optimise the grid's
levels directly (every cell of the loop free, no NCA) against the run's stretch with the texture
phase's own read-out, synth and loss, and print its spectral distance next to the NCA's and the
DDSP model's. The gap between the free grid and the DDSP model is what the representation costs
(texture frames, the harmonic strip, the noise envelope); the gap between the NCA and the free
grid is what growing it costs.

    python -m bench.texture_bound RUN_DIR... [--steps 400]

Reads the run (as `grow-train --resume` does: its features from the cache); writes nothing new.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from trainer.cli import build_parser, open_session
from trainer.distributed import DistInfo
from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.texture_nca import TextureNCA
from trainer.texture_phase import texture_settings
from trainer.texture_report import distances, texture_audio
from trainer.texture_train import Stretch, TextureTrainer


def free_grid_distance(run: Path, steps: int) -> float:
    """The spectral distance of the best free grid found in `steps` Adam steps."""
    args = build_parser().parse_args(
        ["--out", str(run), "--resume", "--phase", "texture", "--quiet"]
    )
    session = open_session(args, DistInfo(), torch.device("cpu"))
    assert session.stored is not None
    ddsp = DDSPAutoencoder(session.model_config)
    session.load_trained_ddsp(ddsp)
    config, train_config = texture_settings(  # the run's stored texture settings
        args, session.stored, session.model_config, session.feature_config.frame_rate
    )
    texture = TextureNCA(config)
    target = Stretch(**session.stored["texture_stretch"]).features(session.dataset)
    # The texture phase's own scoring (read-out, synth, loss against the stretch); the trainer
    # freezes the DDSP model and writes nothing until it is fitted, which it is not here.
    scorer = TextureTrainer(
        texture,
        ddsp,
        target,
        train_config,
        session.run,
        device=torch.device("cpu"),
        log=session.log,
    )
    logits = torch.zeros(1, config.frames, config.width, requires_grad=True)  # level 0.5
    wall = texture.wall
    assert isinstance(wall, torch.Tensor)  # [1, 1, 1, F]

    def grid() -> torch.Tensor:  # [1, C, T, F], channel 0 the free levels, the rest unused
        level = torch.sigmoid(logits) * wall[0, 0]  # [1, T, F]
        rest = level.new_zeros(1, config.channels - 1, config.frames, config.width)
        return torch.cat([level[:, None], rest], dim=1)

    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(steps):
        loss = scorer.loss_of(grid()).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        heard = texture_audio(texture, ddsp, grid(), target.f0_hz, target.loudness_db)
    return float(distances(heard, target.audio)[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| run | free grid | texture NCA | DDSP | free grid / DDSP | NCA / free grid |")
    print("|---|---:|---:|---:|---:|---:|")
    for run in args.runs:
        metrics = json.loads((run / "texture_metrics.json").read_text())
        free = free_grid_distance(run, args.steps)
        nca, ddsp = metrics["distance_texture"], metrics["distance_ddsp"]
        print(
            f"| {run.name} | {free:.2f} | {nca:.2f} | {ddsp:.2f} | {free / ddsp:.2f} | "
            f"{nca / free:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
