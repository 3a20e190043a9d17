"""Training progress when stderr is not a terminal: plain periodic lines, time under a time
budget, never carriage-return bars."""

from __future__ import annotations

import pytest

from trainer.progress import Progress, clock


def test_time_budget_reports_time_and_steps(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(
        "ddsp", total_steps=10000, initial_step=0, minutes=4.0, enabled=True, every_s=0.0
    )
    for step in range(1, 4):
        progress.update(step, loss="1.234")
    progress.close()
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 4  # one per update (every_s=0) and one at the end
    assert lines[-1] == "ddsp: step 3, 0:00 of 4:00, loss 1.234"
    assert "10000" not in err  # the step budget is not what ends this run


def test_step_budget_reports_steps_of_total(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(
        "nca", total_steps=200, initial_step=50, minutes=None, enabled=True, every_s=3600.0
    )
    progress.update(51, loss="0.5")
    progress.close()
    assert capsys.readouterr().err.splitlines() == ["nca: step 51 of 200, 0:00, loss 0.5"]


def test_disabled_progress_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("nca", total_steps=5, initial_step=0, minutes=1.0, enabled=False)
    progress.update(1, loss="1")
    progress.close()
    assert capsys.readouterr().err == ""


def test_clock() -> None:
    assert [clock(5), clock(65), clock(3723)] == ["0:05", "1:05", "1:02:03"]


def test_progress_counts_its_own_unit(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(
        "features", total_steps=2, initial_step=0, minutes=None, enabled=True, unit="file"
    )
    progress.update(2)
    progress.close()
    assert capsys.readouterr().err.splitlines() == ["features: file 2 of 2, 0:00"]
