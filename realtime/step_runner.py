"""One control frame of the artifact's step graph for several voices at once.

A version-3 graph has a batch axis and outputs the unmasked amplitudes beside the masked ones, so
one call serves every sounding voice and the mask blend. `StepRunner` binds, for each number of
voices, the inputs and outputs of a version-3 graph to buffers of its own once (onnxruntime's
IOBinding), so that a frame's call allocates nothing: the engine writes the inputs in place and
reads the outputs where the graph left them. Version 1-2 graphs are batch 1 with five outputs:
one call per voice, and a second (the same frame with an all-ones NCA state and no step) where
the unmasked amplitudes are needed; that path allocates (`run_unbatched`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnxruntime as ort

from export.contract import INPUT_NAMES, OUTPUT_NAMES
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


class StepRunner:
    """One engine's graph calls for 1 .. `max_voices` voices at once.

    `inputs(n)` are the buffers of the contract's inputs for n voices (row i = voice i; the GRU
    state's batch axis is its second): fill them, then `run(n, wanted)`. For a version-3 graph the
    outputs are views of buffers bound once per n and overwritten by the next call with the same
    n: copy what must outlive it.
    """

    def __init__(self, model: LoadedModel, max_voices: int) -> None:
        self.model = model
        meta = model.meta
        self._inputs: list[dict[str, np.ndarray]] = []
        self._outputs: list[dict[str, np.ndarray]] = []
        self._bindings: list[ort.IOBinding] = []
        for n in range(1, max_voices + 1):
            inputs = {
                "f0_hz": np.zeros((n, 1), np.float32),
                "loudness_db": np.zeros((n, 1), np.float32),
                "z": np.zeros((n, meta.z_dim), np.float32),
                "gru_state": np.zeros((meta.gru_layers, n, meta.gru_hidden), np.float32),
                "nca_state": np.zeros((n, meta.nca_channels, meta.n_harmonics), np.float32),
                "nca_step": np.zeros(n, np.float32),
                "nca_fire": np.zeros((n, 1, meta.n_harmonics), np.float32),
            }
            assert tuple(inputs) == INPUT_NAMES
            self._inputs.append(inputs)
            if not meta.batched:
                continue
            k, b = meta.n_harmonics, meta.n_noise_bands
            outputs = {
                "harmonic_amps": np.zeros((n, k), np.float32),
                "noise_mags": np.zeros((n, b), np.float32),
                "mask": np.zeros((n, k), np.float32),
                "gru_state_out": np.zeros_like(inputs["gru_state"]),
                "nca_state_out": np.zeros_like(inputs["nca_state"]),
                "harmonic_amps_full": np.zeros((n, k), np.float32),
            }
            assert tuple(outputs) == OUTPUT_NAMES
            binding = model.session.io_binding()
            for name, buffer in inputs.items():
                binding.bind_cpu_input(name, buffer)
            for name, buffer in outputs.items():
                binding.bind_output(
                    name, "cpu", 0, np.float32, list(buffer.shape), buffer.ctypes.data
                )
            self._outputs.append(outputs)
            self._bindings.append(binding)

    def inputs(self, n: int) -> dict[str, np.ndarray]:
        """The input buffers for n voices (1 .. max_voices)."""
        return self._inputs[n - 1]

    def run(self, n: int, wanted: Wanted) -> StepOutputs:
        """One frame for the n voices in `inputs(n)`."""
        if not self.model.meta.batched:
            return run_unbatched(self.model, self._inputs[n - 1], wanted)
        # No RunOptions: with them onnxruntime 1.32 looks up a GPU-graph entry by catching an
        # exception, ~60 us a call here.
        self.model.session.run_with_iobinding(self._bindings[n - 1])
        out = self._outputs[n - 1]
        full = out["harmonic_amps_full"]
        return StepOutputs(
            harmonic_amps=full if wanted == "full" else out["harmonic_amps"],
            harmonic_amps_full=None if wanted == "masked" else full,
            noise_mags=out["noise_mags"],
            mask=out["mask"],
            gru_state=out["gru_state_out"],
            nca_state=out["nca_state_out"],
        )


def run_unbatched(model: LoadedModel, feeds: dict[str, np.ndarray], wanted: Wanted) -> StepOutputs:
    """Run one frame of a version 1-2 graph for the N voices stacked in `feeds` (the contract's
    inputs, batch N): one call per voice."""
    rows = [_run_one(model, _row(feeds, i), wanted) for i in range(feeds["f0_hz"].shape[0])]
    if len(rows) == 1:
        return rows[0]
    full = [r.harmonic_amps_full for r in rows if r.harmonic_amps_full is not None]
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
