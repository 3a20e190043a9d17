"""A steady-state block allocates no numpy memory.

The instrument: tracemalloc, started after the warm-up (so it traces only what is allocated from
then on), and a trace function that, after every bytecode the engine's Python code executes,
looks for live numpy data (tracemalloc's numpy domain). A temporary such as the `a * b` of
`a * b + c` is alive at the bytecode between the two operations, so it is caught; a buffer
allocated and freed inside one C call (onnxruntime, a compiled loop) is not numpy data.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable
from types import FrameType
from typing import Any

import numpy as np
import pytest

from realtime.commands import NoteOn, SetParam
from realtime.engine import Engine
from realtime.model import LoadedModel

NUMPY_DOMAIN = np.lib.tracemalloc_domain


def numpy_allocations(run: Callable[[], Any]) -> list[str]:
    """Where numpy data was first found alive while `run` executed: 'file:line (bytes)' of each
    allocation alive then (empty: none)."""
    found: list[str] = []
    only_numpy = [tracemalloc.DomainFilter(True, NUMPY_DOMAIN)]

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if found:  # the first finding is enough
            frame.f_trace_opcodes = False
            return None
        frame.f_trace_opcodes = True
        if event == "opcode":
            snapshot = tracemalloc.take_snapshot().filter_traces(only_numpy)
            found.extend(f"{t.traceback[0]} ({t.size} B)" for t in snapshot.traces)
        return trace

    tracemalloc.start(1)
    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(None)
        tracemalloc.stop()
    return found


def test_the_instrument_sees_a_temporary() -> None:
    buffer, other = np.ones(64), np.ones(64)

    def temporary() -> None:
        buffer[:] = buffer * 2.0 + other  # the product lives until the sum is taken

    def in_place() -> None:
        np.multiply(buffer, 2.0, out=buffer)
        buffer[:] += other

    assert numpy_allocations(temporary)
    assert not numpy_allocations(in_place)


@pytest.mark.parametrize(
    ("voices", "growth"), [(1, "free"), (8, "free"), (8, "shared"), (2, "off")]
)
def test_a_steady_state_block_allocates_no_numpy_memory(
    demo: LoadedModel, voices: int, growth: str
) -> None:
    """Every voice sounding, the mask half blended (masked and unmasked amplitudes), noise on,
    64-sample blocks over three control frames (each block that begins a frame runs the graph,
    the noise filter and the NCA's draws)."""
    engine = Engine(demo, sample_rate=48000, voices=voices, growth=growth)
    engine.params.set("mask_blend", 0.5)
    for note in (57.0, 60.0, 64.0, 67.0, 69.0, 72.0, 76.0, 79.0)[:voices]:
        engine.apply(NoteOn(note))
    block = np.zeros(64, np.float32)
    for _ in range(40):  # warm up: every voice sounding, each batch size's buffers in use
        engine.process(64, out=block)
    assert np.abs(block).max() > 0.01

    def blocks() -> None:
        for _ in range(3 * engine.hop_max() // 64):
            engine.process(64, out=block)

    assert numpy_allocations(blocks) == []
    assert engine.sounding() == voices


def test_a_stream_of_bends_allocates_no_numpy_memory(demo: LoadedModel) -> None:
    """A pitch bend before every block (a controller's wheel, an OSC flood) re-aims the pitch at
    every block: still nothing allocated."""
    engine = Engine(demo, sample_rate=48000, voices=4)
    for note in (57.0, 60.0, 64.0, 67.0):
        engine.apply(NoteOn(note))
    block = np.zeros(64, np.float32)
    bends = [SetParam("bend_semitones", 0.01 * i) for i in range(60)]
    for bend in bends[:30]:
        engine.apply(bend)
        engine.process(64, out=block)

    def blocks() -> None:
        for bend in bends[30:]:
            engine.apply(bend)
            engine.process(64, out=block)

    assert numpy_allocations(blocks) == []


def test_playing_and_stepping_the_texture_allocates_no_numpy_memory(
    exported_texture: tuple[Any, Any],
) -> None:
    """Two voices through the texture (half blended), its steps taken on the worker thread as
    frames pass: neither the audio thread nor the worker allocates (tracemalloc sees both)."""
    import time

    from realtime.model import load_model

    engine = Engine(
        load_model(exported_texture[1]), sample_rate=48000, voices=2, texture_thread=True
    )
    engine.apply(SetParam("texture_blend", 0.5))
    engine.apply(SetParam("texture_rate", 50.0))
    for note in (60.0, 67.0):
        engine.apply(NoteOn(note))
    engine.start_workers()
    block = np.zeros(480, np.float32)  # a control frame a block, 2 ms apart: the worker keeps up
    try:
        for _ in range(20):
            engine.process(480, out=block)
            time.sleep(0.002)

        def blocks() -> None:
            for _ in range(12):
                engine.process(480, out=block)
                time.sleep(0.002)

        texture = engine.texture
        assert texture is not None
        before = texture.steps
        assert numpy_allocations(blocks) == []
        assert texture.steps > before
    finally:
        engine.stop_workers()
