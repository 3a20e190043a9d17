"""The compiled (numba) kernels' thread count follows torch's.

grow-train gives each process of a multi-process run its share of the cores through
torch.set_num_threads; numba's parallel loops would otherwise start one thread per core in every
process. Each kernel's wrapper calls `follow_torch_threads` first (it costs about a microsecond).
The kernels split their work by batch item, so their results do not depend on the count.
"""

from __future__ import annotations

import numba
import torch


def follow_torch_threads() -> None:
    """Set numba's threads for this thread's next parallel loops to torch's count (at most the
    number numba started with)."""
    started: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    numba.set_num_threads(max(1, min(torch.get_num_threads(), started)))
