"""Offline rendering: drive Engine.process in a loop, applying timed events at exact samples.

The same engine as the live player, so a render is what `grow-live` would have played for the
same controls, whatever the block size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from core.errors import ParameterError
from core.growth import STRATEGIES, stage_mask
from realtime.commands import (
    Command,
    NcaReset,
    NcaStep,
    NoteOff,
    NoteOn,
    SetMask,
    SetParam,
    TextureReset,
)
from realtime.effect import MAX_BLOCK, EffectChain
from realtime.engine import Engine
from realtime.score import Event


def render(
    engine: Engine,
    events: Sequence[Event],
    seconds: float,
    *,
    blocksize: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Render `seconds` of audio; each event is applied just before the sample it falls on.

    Returns float32 [n]. Blocks are split at event times so that the result does not depend on
    `blocksize`.
    """
    if blocksize < 1:
        raise ParameterError(f"blocksize={blocksize} must be a positive number of samples")
    total = round(seconds * engine.sample_rate)
    out = np.empty(total, np.float32)
    queue = sorted(events, key=Event.sort_key)
    pos, i = 0, 0
    while pos < total:
        while i < len(queue) and round(queue[i].time_s * engine.sample_rate) <= pos:
            engine.apply(queue[i].command)
            i += 1
        limit = total
        if i < len(queue):
            limit = min(limit, max(pos + 1, round(queue[i].time_s * engine.sample_rate)))
        n = min(blocksize, limit - pos)
        out[pos : pos + n] = engine.process(n)
        pos += n
        if progress is not None:
            progress(pos, total)
    return out


def render_through(
    chain: EffectChain,
    audio: np.ndarray,
    *,
    blocksize: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """What effect mode plays for `audio` [n] (mono, at the engine's rate): the chain run block
    by block, as live, then fed silence for as long as its latency so the end is heard.
    Returns float32 [n + latency]."""
    if blocksize < 1:
        raise ParameterError(f"blocksize={blocksize} must be a positive number of samples")
    rate = chain.engine.sample_rate
    heard = np.concatenate([audio, np.zeros(round(chain.latency_s * rate), audio.dtype)])
    out = np.empty(heard.shape[0], np.float32)
    step = min(blocksize, MAX_BLOCK)
    for pos in range(0, heard.shape[0], step):
        chain.process(heard[pos : pos + step], out=out[pos : pos + step])
        if progress is not None:
            progress(min(pos + step, heard.shape[0]), heard.shape[0])
    return out


FLOOR_MARGIN_DB = 0.5
DIGITAL_SILENCE_DB = -110.0  # unweighted RMS per frame, dBFS


def digital_silence_frames(audio: np.ndarray, hop: int) -> np.ndarray:
    """[T] bool: frames (hop samples each, frame t from sample t * hop) of audio [T * hop] whose
    RMS is below DIGITAL_SILENCE_DB."""
    frames = audio[: audio.shape[0] // hop * hop].astype(np.float64).reshape(-1, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return rms < 10 ** (DIGITAL_SILENCE_DB / 20)


def start_input(
    engine: Engine,
    f0_hz: np.ndarray,
    loudness_db: np.ndarray,
    *,
    frame_rate: float,
    pitch_shift: float = 0.0,
    loudness_offset: float = 0.0,
    digital_silence: np.ndarray | None = None,
) -> tuple[list[Event], float]:
    """Resynthesis / timbre transfer: the engine plays the input's pitch and loudness, frame for
    frame, as the trainer's reconstruction does.

    f0_hz, loudness_db: [T] frame features of the input (the model's own extractors). Frame 0 is
    set and computed now (gate on, the input's first values); frame t >= 1 is scheduled one
    control frame early, because the engine reads frame t + 1 when segment t begins. Returns
    (events for `render`, seconds).

    digital_silence: [T] bool, frames whose unweighted level is below DIGITAL_SILENCE_DB. Only
    they reach the loudness floor; other frames stay FLOOR_MARGIN_DB above it (the A-weighted
    loudness also reads faint low-frequency tails as the floor), so that a gate closing at the
    floor silences digital silence and nothing else.
    """
    shift = 2.0 ** (pitch_shift / 12.0)
    floor = float(engine.meta.features["loudness_floor_db"])

    def controls(t: int) -> list[SetParam]:
        loud = min(0.0, float(loudness_db[t]) + loudness_offset)
        if digital_silence is not None and not digital_silence[t]:
            loud = max(loud, floor + FLOOR_MARGIN_DB)
        return [SetParam("pitch_hz", float(f0_hz[t]) * shift), SetParam("loudness_db", loud)]

    engine.apply(NoteOn(69.0))
    for command in controls(0):
        engine.apply(command)
    engine.start()
    events = [
        Event((t - 1) / frame_rate, 1, command)
        for t in range(1, len(f0_hz))
        for command in controls(t)
    ]
    return events, len(f0_hz) / frame_rate


def grow_events(
    strategy: str,
    *,
    n_harmonics: int,
    stages: int = 32,
    stage_s: float = 0.5,
    gap_s: float = 0.2,
    note: float = 69.0,
    velocity: float = 1.0,
    grow_steps: int = 64,
    release_s: float = 0.25,
) -> tuple[list[Event], float]:
    """The seeds' discrete grower: `stages` held notes, one per growth stage, silence between.

    nca: stage s plays the NCA grown round(s * grow_steps / (stages - 1)) steps from the seed (the
    steps between stages are taken during the silence). Fixed strategies set the mask directly.
    Returns (events, total seconds).
    """
    if strategy not in STRATEGIES:
        raise ParameterError(f"--grow {strategy!r} must be one of {', '.join(STRATEGIES)}")
    if stages < 2 or stage_s <= 0 or gap_s < 0:
        raise ParameterError("stages must be >= 2, stage duration > 0 and silence >= 0")
    events = [Event(0.0, 1, SetParam("nca_rate", 0.0)), Event(0.0, 1, NcaReset())]
    done = 0
    for s in range(stages):
        start = s * (stage_s + gap_s)
        if strategy == "nca":
            target = round(s * grow_steps / (stages - 1))
            if target > done:
                events.append(Event(max(0.0, start - gap_s), 1, NcaStep(target - done)))
                done = target
        else:
            mask = stage_mask(strategy, s, stages, n_harmonics)
            events.append(Event(start, 1, SetMask.of(mask)))
        events.append(Event(start, 2, NoteOn(note, velocity)))
        events.append(Event(start + max(stage_s - release_s, 0.01), 0, NoteOff()))
    return events, stages * (stage_s + gap_s)


def texture_start(rate: float) -> list[Command]:
    """The texture NCA heard alone and growing from its seed at `rate` steps/s."""
    return [SetParam("texture_blend", 1.0), SetParam("texture_rate", rate), TextureReset()]


def held_note(note: float, seconds: float, *, release_s: float = 0.25) -> list[Event]:
    """One note held for `seconds` (released `release_s` before the end)."""
    return [Event(0.0, 2, NoteOn(note, 1.0)), Event(max(seconds - release_s, 0.01), 0, NoteOff())]
