"""Effect mode: audio in -> streaming pitch and loudness -> one voice of the model -> audio out.

`EffectChain.process(inp, out)` is the whole path, block by block: `grow-live --effect` calls it
from its audio thread (PortAudio duplex or JACK), `grow-render --input --tracker streaming` over
a file, so a live session can be rendered offline and tested. Whenever the engine is about to
read its controls for a control frame, the tracker analyses the input received up to that
sample and its pitch (times the pitch shift) and loudness (plus the offset) become that frame's
controls. Frames sit on the engine's grid, so the output does not depend on the block size.

Latency (`latency_s`): the tracker describes the past (half of what it reads, realtime.tracker),
and a tracked frame is reached at the end of the segment it begins (one control frame; an
onset starts sounding at the segment's first sample). Host buffers come on top.
"""

from __future__ import annotations

import numpy as np

from core.errors import ParameterError
from realtime.commands import NoteOn
from realtime.engine import Engine
from realtime.tracker import MAX_F0_HZ, MIN_F0_HZ, StreamingTracker

MAX_BLOCK = 8192  # samples per process call

EFFECT_NOTE = 69.0  # the one note held for the whole session: the input's loudness and the gate
# make its silences
# What the input decides: posted notes and these parameters (OSC, MIDI) are ignored.
INPUT_OWNED = frozenset({"notes", "pitch_hz", "loudness_db", "velocity"})


def follow_input(engine: Engine) -> None:
    """Set one voice up to follow pitch and loudness tracked from audio: no envelope of its own
    (the input's loudness shapes onsets and ends) and no smoothing of the tracked controls."""
    engine.voice.envelope.sustain = 1.0
    engine.voice.envelope.attack_s = 1e-6
    engine.smoother.disable("pitch_hz")
    engine.smoother.disable("loudness_db")


def default_pitch_range(engine: Engine, pitch_shift: float = 0.0) -> tuple[float, float]:
    """The input pitches to look for: the model's trained range an octave wider each way, moved
    by the pitch shift (the input sits that far below what the model plays), within the
    tracker's limits. A narrower range tracks with less delay (the longest period sets it)."""
    low, high = engine.meta.trained_f0_hz
    if low <= 0:
        low, high = engine.meta.f0_min_hz, engine.meta.f0_max_hz
    shift = 2.0 ** (-pitch_shift / 12.0)
    ceiling = min(MAX_F0_HZ, engine.sample_rate / 4)
    low = min(max(low * shift / 2.0, MIN_F0_HZ), ceiling / 2)
    high = max(min(high * shift * 2.0, ceiling), low * 2)
    return low, high


class EffectChain:
    """The engine (one voice) played from a mono input stream at the engine's rate."""

    def __init__(self, engine: Engine, tracker: StreamingTracker) -> None:
        if len(engine.voices) != 1:
            raise ParameterError("effect mode plays one voice: make the engine with voices=1")
        if tracker.sample_rate != engine.sample_rate:
            raise ParameterError(
                f"the tracker runs at {tracker.sample_rate} Hz, the engine at {engine.sample_rate}"
            )
        self.engine = engine
        self.tracker = tracker
        self.frames = 0  # tracked frames applied
        self.voiced = False  # the last tracked frame's voicing (the status line shows it)
        self.input_db = tracker.floor_db  # ... and its loudness
        self._mix = self._mix_target = engine.params.get("effect_mix")  # wet fraction: now, and
        self._mix_step = 0.0  # at the segment's end, reached by this per-sample step
        self._wet = np.zeros(MAX_BLOCK, np.float32)  # scratch: the engine's block, ...
        self._ramp = np.zeros(MAX_BLOCK)  # ... the mix per sample, ...
        self._steps = np.arange(1.0, MAX_BLOCK + 1.0)  # ... built from these
        follow_input(engine)
        engine.params.set("loudness_db", tracker.floor_db)
        engine.apply(NoteOn(EFFECT_NOTE))
        engine.input_owned = INPUT_OWNED

    @property
    def latency_s(self) -> float:
        """Input to output, without host buffers: the tracker's delay (the larger of pitch and
        loudness) plus one control frame."""
        delay = max(self.tracker.pitch_delay_s, self.tracker.loudness_delay_s)
        return delay + self.engine.latency_samples / self.engine.sample_rate

    def _apply_tracked(self) -> int:
        """Track the input up to now and make it the controls of the frame about to be read;
        returns that segment's length. The mix ramps linearly to its new value over it."""
        engine = self.engine
        frame = self.tracker.analyse()
        shift = engine.params.get("pitch_shift")
        offset = engine.params.get("loudness_offset")
        engine.params.set("pitch_hz", min(max(frame.f0_hz * 2.0 ** (shift / 12.0), 20.0), 4000.0))
        loudness = frame.loudness_db + offset
        if frame.loudness_db <= self.tracker.floor_db:  # digital silence stays at the floor
            loudness = self.tracker.floor_db  # whatever the offset, so the gate closes there
        engine.params.set("loudness_db", min(max(loudness, -100.0), 0.0))
        self.frames += 1
        self.voiced = frame.voiced
        self.input_db = frame.loudness_db
        n = engine.next_segment_length()
        self._mix = self._mix_target  # where the last segment's ramp ended
        self._mix_target = engine.params.get("effect_mix")
        self._mix_step = (self._mix_target - self._mix) / n
        return n

    def process(self, inp: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Input samples [n] (mono, at the engine's rate) -> output float32 [n], written into
        `out` when given. n is at most MAX_BLOCK per call."""
        n = inp.shape[0]
        if n > self._wet.shape[0]:
            raise ParameterError(f"blocks of at most {self._wet.shape[0]} samples, got {n}")
        if out is None:
            out = np.empty(n, np.float32)
        engine, done = self.engine, 0
        while done < n:
            left = engine.samples_until_frame()
            if left == 0:
                left = self._apply_tracked()
            take = min(n - done, left)
            wet = engine.process(take, out=self._wet[:take])
            dry = inp[done : done + take]
            self.tracker.push(dry)
            self._mix_into(out[done : done + take], wet, dry)
            done += take
        return out

    def _mix_into(self, out: np.ndarray, wet: np.ndarray, dry: np.ndarray) -> None:
        """out = dry + mix * (wet - dry), the mix ramping by its step per sample; into
        preallocated buffers (wet is the scratch, overwritten)."""
        take, start, step = out.shape[0], self._mix, self._mix_step
        if step == 0.0 and start == 1.0:
            out[:] = wet
        else:
            ramp = self._ramp[:take]
            np.multiply(self._steps[:take], step, out=ramp)
            ramp += start
            np.subtract(wet, dry, out=wet)
            np.multiply(wet, ramp, out=wet, casting="same_kind")
            np.add(dry, wet, out=out, casting="same_kind")
        self._mix = start + step * take
