"""Guard against non-finite gradients: skip the step, count it, stop if it persists."""

from __future__ import annotations

import math

from core.errors import TrainingError


class NonFiniteGuard:
    """Call `ok(loss, grad_norm)` after backward; False means skip the optimiser step.

    Raises TrainingError after `limit` consecutive non-finite steps: the run stops with its last
    good checkpoint untouched.
    """

    def __init__(self, *, limit: int = 20, skipped: int = 0) -> None:
        if limit < 1:
            raise ValueError(f"limit={limit} must be at least 1")
        self.limit = limit
        self.skipped = skipped  # total over the run (kept in the checkpoint)
        self.consecutive = 0

    def ok(self, *values: float) -> bool:
        """True if every value (loss, gradient norm...) is finite."""
        if all(math.isfinite(v) for v in values):
            self.consecutive = 0
            return True
        self.skipped += 1
        self.consecutive += 1
        if self.consecutive >= self.limit:
            raise TrainingError(
                f"training diverged: {self.consecutive} steps in a row had a non-finite loss or "
                "gradient (NaN/inf); stopped, the last good checkpoint is kept. Try a lower --lr "
                "or check the input audio."
            )
        return False
