"""The texture NCA on the live side: its grid, its steps, its read-out (export/contract.py,
TextureSpec). numpy and onnxruntime only.

The engine owns one grid (every voice plays the same texture, each at its own pitch and level),
looping over `spec.control_frames` control frames on the engine's frame clock: frame t plays loop
position t mod that length, read between the two texture frames around it (`levels`, the same
linear interpolation as trainer.texture_nca.stretch_frames).

A step of the grid costs milliseconds (the rule over every cell), more than an audio block may
take, so it runs on a worker thread: the engine starts step n at a control frame (`submit`) and
takes its result `LAG_FRAMES` frames later (`collect`). The fire mask of step n is drawn from a
counter-based generator keyed by (seed, n), so the growth is the same in every run. An offline
render computes the step at once instead (`threaded=False`), on the same schedule, so it plays
exactly what a live engine whose worker keeps up plays; a live engine whose worker is late does
not wait for it: it drops that step and counts it (`late`).

The worker is handed its work through plain attributes (an assignment is atomic under the GIL)
and polls for it, so the audio thread never touches a lock.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from export.contract import ArtifactMetadata, TextureSpec
from realtime.model import embedded_session
from realtime.philox import uniform

LAG_FRAMES = 2  # a step's result is due this many control frames after it started
POLL_SECONDS = 0.0005  # how often an idle worker looks for work


class TextureGrid:
    """The grid [1, C, T, F], stepped on a worker thread, read out per control frame."""

    def __init__(
        self, meta: ArtifactMetadata, *, seed: int, max_voices: int, threaded: bool
    ) -> None:
        spec = TextureSpec.of(meta)
        self.spec = spec
        self.seed = seed
        self.threaded = threaded
        self._step = embedded_session(spec.step_onnx, "texture step graph")
        self._read_out = embedded_session(spec.controls_onnx, "texture read-out graph")
        shape = (1, spec.channels, spec.frames, spec.width)
        self._seed_grid = np.broadcast_to(
            np.asarray(spec.seed_cells, np.float32)[None, :, None, :], shape
        ).copy()
        # Two grids: the engine reads `grid`, a step writes the other; taking the step swaps them.
        self._grids = (self._seed_grid.copy(), np.zeros(shape, np.float32))
        self._current = 0
        self._fire = np.zeros((1, 1, spec.frames, spec.width), np.float32)
        self._fired = np.zeros(self._fire.shape, bool)
        self._draws = np.zeros(spec.frames * spec.width)
        self._step_bindings = [self._bind_step(i) for i in (0, 1)]
        self.steps = 0  # steps taken since the seed (or the last reset)
        self.late = 0  # steps a live engine dropped because the worker was late
        self.clock = 0.0  # fractional steps owed at the rate
        self._due_frame: int | None = None  # when the step in flight is to be taken
        self._job = 0  # incremented to hand the worker a step
        self._done = 0  # set to _job by the worker when that step is written
        self._running = False
        self._thread: threading.Thread | None = None
        # The read-out's inputs and outputs, per number of voices (bound once, no allocation).
        self._level = np.zeros((max_voices, spec.width), np.float32)
        self._following = np.zeros(spec.width, np.float32)
        self._f0 = np.zeros((max_voices, 1), np.float32)
        self._loudness = np.zeros((max_voices, 1), np.float32)
        self._amps = np.zeros((max_voices, meta.n_harmonics), np.float32)
        self._mags = np.zeros((max_voices, meta.n_noise_bands), np.float32)
        self._bindings = [self._bind(n) for n in range(1, max_voices + 1)]
        uniform(0, 0, 0, self._draws[:1])  # compiled now, not in the first callback

    @property
    def grid(self) -> np.ndarray:
        """The grid being played, [1, C, T, F] float32 (changed in place by reset and perturb)."""
        return self._grids[self._current]

    def _bind_step(self, source: int) -> Any:
        """A step from grid `source` into the other one, with `_fire`: nothing allocated."""
        binding = self._step.io_binding()
        for name, array, bind in (
            ("texture_state", self._grids[source], binding.bind_input),
            ("texture_fire", self._fire, binding.bind_input),
            ("texture_state_out", self._grids[1 - source], binding.bind_output),
        ):
            bind(name, "cpu", 0, np.float32, list(array.shape), array.ctypes.data)
        return binding

    def _bind(self, n: int) -> Any:
        binding = self._read_out.io_binding()
        for name, array in (
            ("texture_level", self._level),
            ("f0_hz", self._f0),
            ("loudness_db", self._loudness),
        ):
            part = array[:n]
            binding.bind_input(name, "cpu", 0, np.float32, list(part.shape), part.ctypes.data)
        for name, array in (("harmonic_amps", self._amps), ("noise_mags", self._mags)):
            part = array[:n]
            binding.bind_output(name, "cpu", 0, np.float32, list(part.shape), part.ctypes.data)
        return binding

    # -- the worker ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker (threaded grids; idempotent)."""
        if self.threaded and self._thread is None:
            self._running = True
            self._thread = threading.Thread(target=self._work, name="texture-nca", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None

    def _work(self) -> None:
        while self._running:
            job = self._job
            if job != self._done:
                self._compute()
                self._done = job
            else:
                time.sleep(POLL_SECONDS)

    def _compute(self) -> None:
        """One step of `grid` into the other grid, with step `steps`' fire mask (in place)."""
        draws = uniform(self.seed + 3, self.steps, 0, self._draws)
        np.less(draws.reshape(self._fire.shape), self.spec.fire_rate, out=self._fired)
        np.copyto(self._fire, self._fired)  # (a cast inside np.less would buffer)
        self._step.run_with_iobinding(self._step_bindings[self._current])

    # -- the engine's side ----------------------------------------------------------------------
    def advance(self, frame: int, rate: float, frame_rate: float) -> None:
        """Control frame `frame`: take the step in flight when it is due, and start the next
        one when the rate (steps/s) owes one (at most one in flight)."""
        if self._due_frame is not None and frame >= self._due_frame:
            self._due_frame = None
            if self._done == self._job:
                self._current = 1 - self._current
                self.steps += 1
            else:  # the worker is late: the engine does not wait, and never uses the result
                self.late += 1
        self.clock = min(self.clock + rate / frame_rate, 2.0)
        if self._due_frame is None and self.clock >= 1.0:
            self.clock -= 1.0
            self._due_frame = frame + LAG_FRAMES
            if self._thread is not None:
                self._job += 1  # the worker takes it from here
            else:
                self._compute()
                self._job += 1
                self._done = self._job

    def reset(self) -> None:
        """Back to the seed (a step in flight is dropped)."""
        self._drop_in_flight()
        self.grid[:] = self._seed_grid
        self.steps = 0
        self.clock = 0.0

    def perturb(self, frames: tuple[int, int], cells: tuple[int, int]) -> None:
        """Zero every channel of cells [cells[0], cells[1]) in frames [frames[0], frames[1])
        of the loop (wrapping when frames[1] <= frames[0]); the seed cells survive."""
        self._drop_in_flight()
        first, stop = frames
        rows = (
            np.arange(first, stop)
            if stop > first
            else np.concatenate([np.arange(first, self.spec.frames), np.arange(0, stop)])
        )
        spec = self.spec
        hit = np.zeros(spec.width, bool)
        hit[cells[0] : cells[1]] = True
        hit[0] = hit[spec.harmonic_cells + 1] = False
        block = self.grid[0][:, rows]  # [C, rows, F]
        block[:, :, hit] = 0.0
        self.grid[0][:, rows] = block

    def _drop_in_flight(self) -> None:
        """Commands that change the grid apply to the grid as it is: a step started from the
        old grid is not taken (the worker may still be computing it; its result is ignored,
        as the next step is handed over with a new job number)."""
        self._due_frame = None

    def loop_position(self, frame: int) -> tuple[int, int, float]:
        """Control frame -> (texture frame, the next one, weight of the next)."""
        position = frame % self.spec.control_frames
        stride = self.spec.frame_stride
        first = position // stride
        return first, (first + 1) % self.spec.frames, float(np.float32(position % stride) / stride)

    def controls(
        self, frame: int, f0_hz: np.ndarray, loudness_db: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The texture's controls at control frame `frame` for n voices at f0_hz, loudness_db
        [n, 1]: (harmonic_amps [n, K], noise_mags [n, B]) views of buffers reused at the next
        call."""
        n = f0_hz.shape[0]
        first, second, weight = self.loop_position(frame)
        level = self._level[0]
        np.maximum(self.grid[0, 0, first], 0.0, out=level)
        level *= np.float32(1.0 - weight)
        np.maximum(self.grid[0, 0, second], 0.0, out=self._following)
        self._following *= np.float32(weight)
        level += self._following
        self._level[1:n] = level
        self._f0[:n] = f0_hz
        self._loudness[:n] = loudness_db
        self._read_out.run_with_iobinding(self._bindings[n - 1])
        return self._amps[:n], self._mags[:n]
