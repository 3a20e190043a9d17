"""The step loop both training phases share: budgets, stop signals, counters.

`BudgetedSteps.run` calls a step function until the step budget, the time budget or SIGINT/SIGTERM,
keeps the counters of a `LoopState` and yields each counted step's loss; the caller adds its own
per-step work (progress bar, checkpoints) and saves once the loop ends.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from trainer.guard import NonFiniteGuard


@dataclass
class LoopState:
    """Counters a checkpoint carries besides the weights (both phases)."""

    step: int = 0
    train_seconds: float = 0.0  # wall time spent in the loop, all sessions
    skipped_steps: int = 0
    history: dict[str, list[float]] = field(default_factory=lambda: {"step": [], "loss": []})


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it between steps and saves before exiting."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum


@contextmanager
def catch_stop_signals(flag: StopFlag) -> Iterator[None]:
    previous = {s: signal.signal(s, flag) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class BudgetedSteps:
    """Run steps within a budget; afterwards `reason` is 'steps', 'minutes' or 'signal'.

    `agree` turns this process's wish to stop into the decision of every rank (DDP), so that all
    ranks leave the loop together.
    """

    def __init__(
        self,
        *,
        steps: int,
        minutes: float | None,
        agree: Callable[[bool], bool] = lambda stop: stop,
    ) -> None:
        self.steps = steps
        self.deadline = time.monotonic() + 60.0 * minutes if minutes is not None else math.inf
        self.agree = agree
        self.reason = "steps"

    def run(
        self, state: LoopState, step: Callable[[NonFiniteGuard], float], guard: NonFiniteGuard
    ) -> Iterator[float]:
        """Yield the loss of every counted step; a skipped step (NaN) is not counted."""
        flag = StopFlag()
        with catch_stop_signals(flag):
            while state.step < self.steps:
                stop_now = flag.signal is not None or time.monotonic() >= self.deadline
                if self.agree(stop_now):
                    self.reason = "signal" if flag.signal is not None else "minutes"
                    return
                started = time.monotonic()
                loss = step(guard)
                state.train_seconds += time.monotonic() - started
                state.skipped_steps = guard.skipped
                if math.isnan(loss):
                    continue
                state.step += 1
                state.history["step"].append(float(state.step))
                state.history["loss"].append(loss)
                yield loss
