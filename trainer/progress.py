"""Progress of a training phase on stderr, honest under either budget.

On a terminal: a bar. Under a time budget (--minutes) it counts time, elapsed against the
budget, with the steps done beside it (a step budget would show a run that ends on time as
stopping at "10 %"); under a step budget it counts steps. When stderr is not a terminal (a log
file, CI), no carriage-return bars: one plain line every `every_s` seconds and one at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def clock(seconds: float) -> str:
    """1:05, 12:00, 1:02:03."""
    s = round(seconds)
    hours, rest = divmod(s, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """`update(step, loss=..., **more)` after every step; `close()` at the end."""

    def __init__(
        self,
        phase: str,
        *,
        total_steps: int,
        initial_step: int,
        minutes: float | None,
        enabled: bool,
        every_s: float = 30.0,
        unit: str = "step",
    ) -> None:
        """unit: what a step counts ("step", "file")."""
        self.phase = phase
        self.unit = unit
        self.total_steps = total_steps
        self.budget_s = None if minutes is None else 60.0 * minutes
        self.enabled = enabled
        self.every_s = every_s
        self.start = time.monotonic()
        self.last_line = self.start
        self.step = initial_step
        self.fields: dict[str, Any] = {}
        self.bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            if self.budget_s is not None:
                self.bar = tqdm(
                    total=round(self.budget_s),
                    desc=phase,
                    bar_format="{desc}: {bar} {postfix}",  # the times in one style: clock()
                    dynamic_ncols=True,
                    file=sys.stderr,
                )
            else:
                self.bar = tqdm(
                    total=total_steps,
                    initial=initial_step,
                    desc=phase,
                    unit=unit,
                    dynamic_ncols=True,
                    file=sys.stderr,
                )

    def _describe(self) -> str:
        parts = [f"{k} {v}" for k, v in self.fields.items()]
        return ", ".join(parts)

    def update(self, step: int, **fields: Any) -> None:
        self.step, self.fields = step, fields
        if not self.enabled:
            return
        now = time.monotonic()
        if self.bar is not None:
            if self.budget_s is not None:
                self.bar.n = min(round(now - self.start), self.bar.total)
                budget = f"{clock(now - self.start)} of {clock(self.budget_s)}"
                self.bar.set_postfix_str(
                    f"{budget}, {self.unit} {step}, {self._describe()}", refresh=False
                )
                self.bar.refresh()
            else:
                self.bar.update(step - self.bar.n)
                self.bar.set_postfix_str(self._describe())
        elif now - self.last_line >= self.every_s:
            self.last_line = now
            print(self.line(now), file=sys.stderr, flush=True)

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.start
        budget = (
            f"{clock(elapsed)} of {clock(self.budget_s)}"
            if self.budget_s is not None
            else f"{clock(elapsed)}"
        )
        steps = f"{self.unit} {self.step}" + (
            f" of {self.total_steps}" if self.budget_s is None else ""
        )
        more = self._describe()
        return f"{self.phase}: {steps}, {budget}" + (f", {more}" if more else "")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(self.line(), file=sys.stderr, flush=True)
