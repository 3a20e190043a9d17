"""Live playback: the engine's blocks through a sounddevice (PortAudio) output stream.

Two ways to feed the callback (`compute`):
- "callback": the callback calls `Engine.process` into a preallocated buffer. No latency beyond
  the device's buffer and the engine's control frame.
- "thread": a producer thread keeps a preallocated ring `prefill` blocks ahead (default: two
  host buffers, at least 256 samples) and the callback only copies out of it (it allocates
  nothing and never waits). It absorbs a slow frame and GIL jitter at the price of the ring's
  latency.
bench/live.py measures both: at 48 kHz / 128 the callback mode underflowed a few times in 8 s
(a control frame costs up to ~60 % of a block and the GIL adds jitter), the thread mode with a
256-sample ring did not, so "thread" is the default (see README's performance section).

The callback never blocks, never prints, always fills the whole buffer (silence on error) and
counts underflows, errors and its own time as a fraction of the block period. A stop request
fades out over 20 ms from the next block, then the stream is stopped: never a click. With
`record_wav` (and `record_input` in effect mode), the callback copies every played (and input)
block into a ring that a writer thread drains to a float WAV (realtime.wav_recorder).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realtime.commands import NoteOn
from realtime.effect import MAX_BLOCK, EffectChain
from realtime.engine import Engine
from realtime.fade import fade_curve, fade_samples
from realtime.ring import RingBuffer
from realtime.tracker import StreamingTracker
from realtime.wav_recorder import WavRecorder

PREFILL_SAMPLES = 256  # thread mode's default ring fill at any block size
LOAD_HISTORY = 4096  # callback loads kept for the status line and the bench


@dataclass
class StreamOptions:
    device: int | None = None  # PortAudio device index (None: the host's default output)
    input_device: int | None = None  # effect mode's input (None: the host's default input)
    latency: float | str = "low"
    channels: int = 2


class LivePlayer:
    def __init__(
        self,
        engine: Engine,
        *,
        blocksize: int = 128,
        compute: str = "thread",
        prefill: int | None = None,
        record_wav: Path | None = None,
        effect: EffectChain | None = None,
        record_input: Path | None = None,
    ) -> None:
        """record_wav: write what is played there (float WAV). effect: play the engine from the
        input through this chain (effect mode); the stream is then duplex (or JACK's in_1).
        record_input: effect mode, write the input there, sample for sample beside what was
        played (grow-render --input FILE --tracker streaming renders it again)."""
        if compute not in ("callback", "thread"):
            raise ValueError(f"compute={compute!r} must be 'callback' or 'thread'")
        if effect is not None and effect.engine is not engine:
            raise ValueError("the effect chain must drive this player's engine")
        self.engine = engine
        self.effect = effect
        self.blocksize = blocksize
        self.compute = compute
        self.rate = engine.sample_rate
        self.period = blocksize / self.rate  # s
        self.mono = np.zeros(MAX_BLOCK, np.float32)  # the callback's scratch
        self.auto_prefill = prefill is None
        self.prefill = prefill or self.blocks_for(PREFILL_SAMPLES)
        self.ring: RingBuffer | None = None  # thread mode: the producer's output ...
        self.in_ring: RingBuffer | None = None  # ... and, in effect mode, the input it reads
        self._make_rings()
        self.input_overflows = 0  # effect mode, thread: input blocks the producer had no room for
        self.input_dropped = 0  # ... and blocks dropped after a stall to keep the latency:
        self.short_samples = 0  # samples the ring could not supply (the callback counts) ...
        self.settled_samples = 0  # ... and those the producer has dealt with
        self.fade = fade_curve(fade_samples(self.rate))
        # counters (written by the callback, read by the status line and the bench)
        self.played = 0  # samples handed to the device
        self.callbacks = 0
        self.underflows = 0  # PortAudio's output_underflow flags + blocks the ring could not fill
        self.ring_underflows = 0  # ... of which the ring ran dry (the producer fell behind)
        self.underflow_at = np.zeros(16, np.int64)  # played position of the first ones
        self.errors = 0  # exceptions in the callback or the producer (the block was silenced)
        self.loads = np.zeros(LOAD_HISTORY)  # callback time / block period, most recent last
        self.fade_start: int | None = None  # played position where the fade-out began
        self.last_callback = 0.0  # perf_counter() when the last callback began ...
        self.played_at_last_callback = 0  # ... and what had been played by then
        self.finished = threading.Event()
        self._stop_requested = False
        self._producing = False
        self._producer: threading.Thread | None = None
        self.stream: Any = None
        # What was played, and (effect mode) what came in, block for block beside it.
        self.recorder = WavRecorder(record_wav, self.rate) if record_wav else None
        self.input_recorder = WavRecorder(record_input, self.rate) if record_input else None
        self.recording_errors: list[tuple[Path, str]] = []  # recordings not completed, and why

    # -- the real-time path ---------------------------------------------------------------------
    def callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's output callback: fill outdata [frames, channels] float32."""
        self._deliver(outdata, None, frames, status)

    def duplex_callback(
        self, indata: np.ndarray, outdata: np.ndarray, frames: int, time_info: Any, status: Any
    ) -> None:
        """PortAudio's duplex callback (effect mode): indata [frames, 1] in, outdata out."""
        self._deliver(outdata, indata[:, 0], frames, status)

    def _deliver(
        self, outdata: np.ndarray, inp: np.ndarray | None, frames: int, status: Any
    ) -> None:
        try:
            mono = self.render_block(frames, inp, late=bool(status.output_underflow))
            if mono is None:
                outdata.fill(0.0)
            else:
                outdata[:] = mono[:, None]
        except Exception:  # a status without the flag
            outdata.fill(0.0)
            self.errors += 1

    def render_block(self, frames: int, inp: np.ndarray | None, *, late: bool) -> np.ndarray | None:
        """The body of every backend's callback: the next `frames` samples, mono float32 (a view
        of the scratch buffer, valid until the next call; silence on error), or None (counted
        as an error) for a block larger than the scratch. `inp` [frames]: the input block in
        effect mode. `late`: the host flagged an underflow. Never raises."""
        start = time.perf_counter()
        self.last_callback = start
        self.played_at_last_callback = self.played
        if frames > self.mono.shape[0]:  # more than any host was asked for: counted, silence
            self.errors += 1
            return None
        mono = self.mono[:frames]
        try:
            if self.finished.is_set():  # faded out: silence while the stream is being stopped
                mono.fill(0.0)  # (a host's xrun during the teardown is no underflow of ours)
                return mono
            if late:
                self._count_underflow()
            if self.compute == "callback":
                if self.effect is not None and inp is not None:
                    self.effect.process(inp, out=mono)
                else:
                    self.engine.process(frames, out=mono)
            else:
                assert self.ring is not None
                pushed = (
                    self.in_ring.push(inp) if self.in_ring is not None and inp is not None else 0
                )
                if self.in_ring is not None and pushed < frames:
                    self.input_overflows += 1  # the producer fell behind the input
                got = self.ring.pop(mono)
                if got < frames:  # the producer fell behind: our own underflow
                    self.short_samples += frames - got
                    mono[got:] = 0.0
                    self._count_underflow()
                    self.ring_underflows += 1
            self._fade(mono, frames)
            if self.recorder is not None:
                self.recorder.push(mono)
            if self.input_recorder is not None and inp is not None and self.ring is None:
                self.input_recorder.push(inp)  # (thread mode: the producer records it)
            self.played += frames
        except Exception:
            mono.fill(0.0)
            self.errors += 1
        finally:
            self.loads[self.callbacks % LOAD_HISTORY] = (time.perf_counter() - start) / (
                frames / self.rate
            )
            self.callbacks += 1
        return mono

    def _count_underflow(self) -> None:
        if self.underflows < self.underflow_at.shape[0]:
            self.underflow_at[self.underflows] = self.played
        self.underflows += 1

    def _fade(self, mono: np.ndarray, frames: int) -> None:
        if self._stop_requested and self.fade_start is None:
            self.fade_start = self.played
        if self.fade_start is None:
            return
        done = self.played - self.fade_start
        length = self.fade.shape[0]
        n = max(0, min(frames, length - done))
        mono[:n] *= self.fade[done : done + n]
        mono[n:] = 0.0
        if done + frames >= length:
            self.finished.set()

    # -- threads ----------------------------------------------------------------------------------
    def _produce(self) -> None:
        assert self.ring is not None
        block = np.zeros(self.blocksize, np.float32)
        inp = np.zeros(self.blocksize, np.float32)
        while self._producing:
            ready = self.in_ring is None or self.in_ring.available() >= self.blocksize
            if ready and self.ring.free() >= self.blocksize:
                try:
                    if self.in_ring is not None and self.effect is not None:
                        self._drop_late_input(inp)
                        self.in_ring.pop(inp)
                        if self.input_recorder is not None:  # what the chain is fed
                            self.input_recorder.push(inp)
                        self.effect.process(inp, out=block)
                    else:
                        self.engine.process(self.blocksize, out=block)
                except Exception:  # keep the stream going: a silent block, counted
                    block.fill(0.0)
                    self.errors += 1
                self.ring.push(block)
            else:
                time.sleep(self.period / 4)

    def _drop_late_input(self, scratch: np.ndarray) -> None:
        """Effect mode, thread: input and output queued together stay at the prefill (a block
        in, a block out, every period), except after a stall: the input that arrived while the
        output ring ran dry would stay queued for good, adding its length to the latency. Drop
        (and count) as much of the oldest input as the ring came up short since the last call,
        down to the prefill, keeping the block about to be computed."""
        assert self.in_ring is not None and self.ring is not None
        limit = self.prefill * self.blocksize
        short = self.short_samples  # (the callback's counter: read once)
        owed = short - self.settled_samples
        while (
            owed >= self.blocksize
            and self.in_ring.available() + self.ring.available() > limit
            and self.in_ring.available() >= 2 * self.blocksize
        ):
            self.in_ring.pop(scratch)
            owed -= self.blocksize
            self.input_dropped += 1
        self.settled_samples = short  # what is owed beyond it was never queued: forgiven

    # -- control ----------------------------------------------------------------------------------
    def blocks_for(self, samples: int) -> int:
        return max(1, -(-samples // self.blocksize))

    def size_ring(self, host_latency_s: float) -> None:
        """Default ring: two of the host's buffers (at least 256 samples). A host may call the
        callback in bursts (JACK at a 256 period asks two 128-blocks back to back), so the ring
        must hold one burst while the producer computes the next."""
        if self.ring is None or not self.auto_prefill:
            return
        host = round(host_latency_s * self.rate)
        self.prefill = self.blocks_for(max(PREFILL_SAMPLES, 2 * max(host, self.blocksize)))
        self._make_rings()

    def _make_rings(self) -> None:
        if self.compute != "thread":
            return
        self.ring = RingBuffer(self.prefill * self.blocksize)
        if self.effect is not None:  # room for the input while the producer computes a burst
            self.in_ring = RingBuffer(2 * self.prefill * self.blocksize)

    def prime(self) -> None:
        """Warm up onnxruntime, numba and numpy on a scratch engine with a note sounding (in
        effect mode: a scratch chain fed a tone), so that the first note played pays no
        first-use cost; then fill the ring (thread mode)."""
        scratch = Engine(self.engine.model, sample_rate=self.rate, seed=self.engine.seed)
        if self.effect is None:
            scratch.apply(NoteOn(69.0))
            scratch.process(self.rate // 10)
        else:
            tracker = self.effect.tracker
            chain = EffectChain(
                scratch,
                StreamingTracker(
                    self.rate,
                    f0_min_hz=tracker.f0_min_hz,
                    f0_max_hz=tracker.f0_max_hz,
                    floor_db=tracker.floor_db,
                ),
            )
            t = np.arange(self.rate // 5) / self.rate
            tone = (0.1 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
            for start in range(0, tone.shape[0], self.blocksize):
                chain.process(tone[start : start + self.blocksize])
        if self.ring is not None:
            block = np.zeros(self.blocksize, np.float32)
            for _ in range(self.prefill):
                if self.effect is None:  # (effect mode: silence until the input arrives)
                    self.engine.process(self.blocksize, out=block)
                self.ring.push(block)

    def start(self, options: StreamOptions) -> None:
        import sounddevice as sd

        if self.effect is None:
            stream = sd.OutputStream(
                samplerate=self.rate,
                blocksize=self.blocksize,
                device=options.device,
                channels=options.channels,
                dtype="float32",
                latency=options.latency,
                callback=self.callback,
            )
        else:
            stream = sd.Stream(
                samplerate=self.rate,
                blocksize=self.blocksize,
                device=(options.input_device, options.device),
                channels=(1, options.channels),
                dtype="float32",
                latency=options.latency,
                callback=self.duplex_callback,
            )
        self.run_stream(stream)

    def run_stream(self, stream: Any) -> None:
        """Prime, then start `stream`: a PortAudio stream, or realtime.jack_io's client (any
        object with `latency` (s, or (input, output)), start, stop and close) whose callback
        calls `render_block`."""
        sys.setswitchinterval(0.001)  # the callback waits less for the GIL (ENVIRONMENT.md)
        self.stream = stream
        self.size_ring(self.output_latency_s)
        self.prime()
        gc.collect()
        gc.freeze()  # what exists now is never scanned again: collections stay short
        for recorder in self.recorders:
            recorder.start()  # (opens its file here: an error names it before any sound)
        self.engine.start_workers()  # the texture NCA's steps, off the audio thread
        if self.ring is not None:
            self._producing = True
            self._producer = threading.Thread(target=self._produce, name="engine", daemon=True)
            self._producer.start()
        try:
            self.stream.start()
        except BaseException:  # nothing was played: no threads left running, no recordings
            self.engine.stop_workers()
            self._producing = False
            if self._producer is not None:
                self._producer.join(timeout=2.0)
            for recorder in self.recorders:
                recorder.discard()
            raise

    def request_stop(self) -> None:
        """Fade out from the next block (safe from a signal handler)."""
        self._stop_requested = True

    def stop(self, timeout: float = 1.0) -> None:
        """Fade out, stop the stream, finish the threads and the WAVs."""
        self.request_stop()
        if self.stream is not None:
            self.finished.wait(timeout)
            self.stream.stop()
            self.stream.close()
            self.stream = None
        self.finished.set()
        self._producing = False
        if self._producer is not None:
            self._producer.join(timeout=2.0)
        self.engine.stop_workers()
        closed = [(r.path, r.close()) for r in self.recorders]
        self.recording_errors = [(path, error) for path, error in closed if error]

    @property
    def recorders(self) -> list[WavRecorder]:
        return [r for r in (self.recorder, self.input_recorder) if r is not None]

    @property
    def record_overflows(self) -> int:
        """Blocks the WAV writers fell behind on (lost from the recordings)."""
        return sum(r.overflows for r in self.recorders)

    @property
    def output_latency_s(self) -> float:
        """The host's output latency of the open stream (0 before one opens)."""
        if self.stream is None:
            return 0.0
        latency = self.stream.latency
        return float(latency[1] if isinstance(latency, tuple) else latency)

    @property
    def latency_samples(self) -> int:
        """Ours: the engine's control frame (effect mode: the chain's latency, trackers
        included) plus, in thread mode, the ring's prefill."""
        ring = self.prefill * self.blocksize if self.ring is not None else 0
        if self.effect is not None:
            return round(self.effect.latency_s * self.rate) + ring
        return self.engine.latency_samples + ring

    @property
    def note_latency_samples(self) -> int:
        """`latency_samples` for notes, pitch, bend, velocity and gain (heard from the engine's
        next block; effect mode: the chain's latency)."""
        if self.effect is not None:
            return self.latency_samples
        ring = self.prefill * self.blocksize if self.ring is not None else 0
        return self.engine.note_latency_samples + ring

    def recent_loads(self, n: int) -> np.ndarray:
        """The last n callback loads (fractions of the block period)."""
        n = min(n, self.callbacks, LOAD_HISTORY)
        return np.roll(self.loads, -(self.callbacks % LOAD_HISTORY))[-n:] if n else np.zeros(0)
