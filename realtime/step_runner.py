"""One control frame of the artifact's step graph for several voices at once.

A version-3 graph has a batch axis and outputs the unmasked amplitudes beside the masked ones, so
one call serves every sounding voice and the mask blend. Version 1-2 graphs are batch 1 with five
outputs: one call per voice, and a second (the same frame with an all-ones NCA state and no step)
where the unmasked amplitudes are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from export.contract import OUTPUT_NAMES
from realtime.model import LoadedModel

# "masked": the NCA's mask applied; "full": only the unmasked timbre is needed (growth off);
# "both": masked and unmasked (a mask blend between them).
Wanted = Literal["masked", "full", "both"]


@dataclass
class StepOutputs:
    """The graph's outputs for N voices (row i = voice i of the feeds)."""

    harmonic_amps: np.ndarray  # [N, K] mask applied ("masked", "both"), else unmasked
    harmonic_amps_full: np.ndarray | None  # [N, K] unmasked ("full", "both"), else None
    noise_mags: np.ndarray  # [N, B]
    mask: np.ndarray  # [N, K]
    gru_state: np.ndarray  # [L, N, H]
    nca_state: np.ndarray  # [N, C, K]


def run_step(model: LoadedModel, feeds: dict[str, np.ndarray], wanted: Wanted) -> StepOutputs:
    """Run one frame for the N voices stacked in `feeds` (the contract's inputs, batch N)."""
    if model.meta.batched:
        amps, mags, mask, gru, nca, full = model.session.run(list(OUTPUT_NAMES), feeds)
        return StepOutputs(
            harmonic_amps=full if wanted == "full" else amps,
            harmonic_amps_full=None if wanted == "masked" else full,
            noise_mags=mags,
            mask=mask,
            gru_state=gru,
            nca_state=nca,
        )
    rows = [_run_one(model, _row(feeds, i), wanted) for i in range(feeds["f0_hz"].shape[0])]
    if len(rows) == 1:
        return rows[0]
    full = [r.harmonic_amps_full for r in rows]
    return StepOutputs(
        harmonic_amps=np.concatenate([r.harmonic_amps for r in rows]),
        harmonic_amps_full=None if wanted == "masked" else np.concatenate(full),
        noise_mags=np.concatenate([r.noise_mags for r in rows]),
        mask=np.concatenate([r.mask for r in rows]),
        gru_state=np.concatenate([r.gru_state for r in rows], axis=1),
        nca_state=np.concatenate([r.nca_state for r in rows]),
    )


def _row(feeds: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """Voice i's inputs, batch 1 (the GRU state's batch axis is its second)."""
    return {k: v[:, i : i + 1] if k == "gru_state" else v[i : i + 1] for k, v in feeds.items()}


def _run_one(model: LoadedModel, feeds: dict[str, np.ndarray], wanted: Wanted) -> StepOutputs:
    """A version 1-2 graph, one voice."""
    session = model.session
    ones = {"nca_state": np.ones_like(feeds["nca_state"]), "nca_step": np.zeros(1, np.float32)}
    if wanted == "full":  # one call: the unmasked frame (its NCA outputs are not used)
        amps, mags, mask, gru, nca = session.run(None, {**feeds, **ones})
        return StepOutputs(amps, amps, mags, mask, gru, nca)
    amps, mags, mask, gru, nca = session.run(None, feeds)
    full = session.run(["harmonic_amps"], {**feeds, **ones})[0] if wanted == "both" else None
    return StepOutputs(amps, full, mags, mask, gru, nca)
