"""The texture NCA on trained runs: for each run directory (a DDSP model trained, e.g. on
bench/eval_phrases.py's phrases), train the texture phase for a fixed time in a copy of the run
and print its metrics: the grown texture's distance to the recording's stretch against the DDSP
model's reconstruction of it (ratio; 1.25 = within 25 %), after being stepped on as far again,
after 50 % damage and regrowth, and the loop seam.

    python -m bench.texture_eval RUN_DIR... [--minutes 14] [--work /tmp/texture-eval]
    python -m bench.texture_eval --report /tmp/texture-eval/*   # the table of finished runs
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

KEEP = ("config.json", "checkpoint.pt", "metrics.json", "presets.json")


def train(run: Path, work: Path, minutes: float) -> Path:
    """A copy of the run's DDSP phase with a fresh texture phase trained in it."""
    target = work / run.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in KEEP:
        if (run / name).is_file():
            shutil.copy2(run / name, target / name)
    config = json.loads((target / "config.json").read_text())
    for key in ("texture", "texture_train", "texture_stretch"):
        config.pop(key, None)
    (target / "config.json").write_text(json.dumps(config, indent=2))
    grow_train = Path(sys.executable).parent / "grow-train"
    command = [str(grow_train), "--out", str(target), "--resume", "--phase", "texture"]
    command += ["--texture-minutes", str(minutes), "--quiet"]
    subprocess.run(command, check=True)
    return target


def row(run: Path) -> str:
    m = json.loads((run / "texture_metrics.json").read_text())
    regrow = m["steps_to_regrow"] if m["steps_to_regrow"] is not None else "never"
    seamless = "yes" if m["seam_level_step_db"] <= m["max_frame_level_step_db"] else "no"
    return (
        f"| {run.name} | {m['steps']} | {m['distance_texture']:.2f} | {m['distance_ddsp']:.2f} | "
        f"{m['distance_ratio']:.2f} | {m['distance_stepped_on']:.2f} | "
        f"{m['distance_damaged']:.2f} → {m['distance_regrown']:.2f} | {regrow} | "
        f"{m['seam_level_step_db']:.3f} / {m['max_frame_level_step_db']:.3f} ({seamless}) |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--minutes", type=float, default=14.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/texture-eval"))
    parser.add_argument("--report", action="store_true", help="only print the finished runs")
    args = parser.parse_args()
    trained = args.runs if args.report else [train(r, args.work, args.minutes) for r in args.runs]
    print(
        "| run | steps | texture distance | DDSP distance | ratio | stepped on (192) | "
        "damaged → regrown | steps to regrow | seam / largest frame step, dB (no seam) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for run in trained:
        print(row(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
