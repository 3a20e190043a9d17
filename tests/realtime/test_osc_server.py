"""The OSC server over real UDP: python-osc and liblo's oscsend as clients, hostile datagrams,
a flood while the engine plays, the status reply, the allow-list and a port in use."""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from core.errors import ParameterError
from realtime.commands import NoteOn
from realtime.engine import Engine
from realtime.model import LoadedModel
from realtime.osc_server import OscServer, parse_allow_list


@pytest.fixture
def served(demo: LoadedModel) -> Iterator[tuple[Engine, OscServer]]:
    engine = Engine(demo, sample_rate=48000)
    server = OscServer(engine, port=0, status=lambda: [1.5, 440.0, 7])
    server.start()
    yield engine, server
    server.stop()


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the OSC server")
        time.sleep(0.005)


def test_valid_messages_become_engine_controls(served: tuple[Engine, OscServer]) -> None:
    engine, server = served
    client = SimpleUDPClient("127.0.0.1", server.port)
    sent: list[tuple[str, Any]] = [
        ("/grow/note", [60, 0.5]),  # an int note is fine
        ("/grow/note/off", []),
        ("/grow/pitch", 330.0),
        ("/grow/bend", -1.5),
        ("/grow/loudness", -130.0),  # clamped to the floor, -100
        ("/grow/timbre", "flute"),
        ("/grow/timbre", 0.9),
        ("/grow/timbre/morph", ["flute", "flute", 0.25]),
        ("/grow/nca/rate", 12.0),
        ("/grow/nca/step", 3),
        ("/grow/nca/reset", 0.0),  # a button's release: ignored
        ("/grow/nca/reset", 1.0),
        ("/grow/nca/perturb", 0.25),
        ("/grow/mask/blend", 0.5),
        ("/grow/noise", -6.0),
        ("/grow/gain", -3.0),
    ]
    for address, args in sent:
        client.send_message(address, args)
    wait_for(lambda: server.received == len(sent))
    assert [(c.action, c.args()) for c in engine.inbox] == [
        ("note_on", (60.0, 0.5)),
        ("note_off", ()),
        ("pitch_hz", (330.0,)),
        ("bend_semitones", (-1.5,)),
        ("loudness_db", (-100.0,)),
        ("select_timbre", ("flute",)),
        ("select_timbre", ("flute",)),
        ("morph_timbre", ("flute", "flute", 0.25)),
        ("nca_rate", (12.0,)),
        ("nca_step", (3,)),
        ("nca_reset", ()),
        ("nca_perturb", (0.25,)),
        ("mask_blend", (0.5,)),
        ("noise_db", (-6.0,)),
        ("gain_db", (-3.0,)),
    ]
    assert server.clamp.count == 1 and server.rejected_total == 0
    engine.process(48000)
    assert engine.rejected == 0 and engine.smoother.value("nca_rate") == 12.0


@pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools not installed")
def test_liblo_oscsend_is_understood(served: tuple[Engine, OscServer]) -> None:
    engine, server = served
    port = str(server.port)
    subprocess.run(["oscsend", "localhost", port, "/grow/note", "ff", "64.5", "0.7"], check=True)
    subprocess.run(["oscsend", "localhost", port, "/grow/nca/step", "i", "2"], check=True)
    wait_for(lambda: server.received == 2)
    inbox = [(c.action, c.args()) for c in engine.inbox]
    assert inbox == [("note_on", (64.5, pytest.approx(0.7))), ("nca_step", (2,))]


def raw(address: str, tags: str, payload: bytes) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\x00" * (4 - len(b) % 4)

    return pad(address.encode()) + pad(("," + tags).encode()) + payload


def test_hostile_input_is_counted_and_a_valid_message_still_works(
    served: tuple[Engine, OscServer],
) -> None:
    engine, server = served
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", server.port)
    rng = np.random.default_rng(1)
    nan = np.float32("nan").tobytes()[::-1]
    hostile = [
        rng.integers(0, 256, 37, dtype=np.uint8).tobytes(),  # random, unaligned
        rng.integers(0, 256, 64, dtype=np.uint8).tobytes(),  # random, aligned
        raw("/grow/pitch", "b", b"\x00\x00\x00\x08abcd"),  # truncated blob
        b"#bundle\x00" + b"\x00" * 8 + b"\x7f\xff\xff\xff",  # bundle element too long
        raw("/grow/pitch", "s", b"high\x00\x00\x00\x00"),  # wrong type
        raw("/grow/pitch", "f", nan),  # NaN
        raw("/grow/gain", "d", np.float64("inf").tobytes()[::-1]),  # inf
        raw("/grow/pitch", "f", np.float32(1e30).tobytes()[::-1]),  # huge: clamped
        raw("/grow/nca/rate", "f", np.float32(-5).tobytes()[::-1]),  # negative: clamped
        raw("/grow/nca/step", "f", np.float32(2.5).tobytes()[::-1]),  # not whole
        raw("/grow/timbre", "s", b"oboe\x00\x00\x00\x00"),  # unknown preset
        raw("/grow/warp", "", b""),  # unknown address
        raw("/grow/" + "x" * 5000, "", b""),  # very long address
        raw("/grow/note", "ffff", b"\x00" * 16),  # too many arguments
        b"\x00" * 10_000,  # oversized
    ]
    for data in hostile:
        sock.sendto(data, target)
    wait_for(lambda: server.received == len(hostile))
    assert server.rejected["malformed"] == 6  # random x2, blob, bundle, long address, oversized
    assert server.rejected["bad arguments"] == 6  # type, NaN, inf, not whole, oboe, arity
    assert server.rejected["unknown address"] == 1
    assert server.accepted == 2 and server.clamp.count == 2
    sock.sendto(raw("/grow/pitch", "f", np.float32(523.25).tobytes()[::-1]), target)
    wait_for(lambda: server.accepted == 3)
    engine.process(48000)
    assert engine.params.get("pitch_hz") == pytest.approx(523.25)
    assert engine.params.get("nca_rate") == 0.0 and engine.rejected == 0


def test_a_flood_while_the_engine_plays(served: tuple[Engine, OscServer]) -> None:
    """Thousands of messages per second, half of them garbage, while another thread renders:
    the audio stays finite and in time, everything is counted, and a valid message still acts."""
    engine, server = served
    engine.apply(NoteOn(57.0, 1.0))
    blocks: list[np.ndarray] = []
    playing = threading.Event()
    playing.set()

    def play() -> None:
        while playing.is_set():
            blocks.append(engine.process(128).copy())

    player = threading.Thread(target=play)
    player.start()
    client = SimpleUDPClient("127.0.0.1", server.port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n, start = 0, time.monotonic()
    while time.monotonic() - start < 1.0:
        client.send_message("/grow/bend", float(n % 7) / 10)
        sock.sendto(b"\xff" * 12, ("127.0.0.1", server.port))
        n += 1
    time.sleep(0.5)  # the kernel may drop datagrams under a flood; what arrives is counted
    received = server.received
    client.send_message("/grow/note", [69.0, 1.0])
    wait_for(lambda: server.received == received + 1)
    time.sleep(0.1)
    playing.clear()
    player.join()
    audio = np.concatenate(blocks)
    assert n > 2000 and received > 2000  # a real flood: thousands of messages per second
    assert server.accepted + server.rejected["malformed"] == received + 1
    assert (
        server.rejected["malformed"] > 1000
        and server.rejected_total == server.rejected["malformed"]
    )
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.01
    assert engine.note == 69.0


def test_status_is_answered_to_the_sender(served: tuple[Engine, OscServer]) -> None:
    _, server = served
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5.0)
    sock.sendto(raw("/grow/status", "", b""), ("127.0.0.1", server.port))
    reply = OscMessage(sock.recv(4096))
    assert reply.address == "/grow/status"
    assert reply.params[0] == 1.5 and reply.params[2] == 7
    assert math.isclose(reply.params[1], 440.0)


def test_allow_list_and_port_in_use(demo: LoadedModel, served: tuple[Engine, OscServer]) -> None:
    engine = Engine(demo, sample_rate=48000)
    with pytest.raises(
        ParameterError, match=f"cannot listen for OSC on 127.0.0.1:{served[1].port}"
    ):
        OscServer(engine, port=served[1].port)
    with pytest.raises(ParameterError, match=r"'10\.0\.0\.300' is not an IP address or network"):
        parse_allow_list("10.0.0.1,10.0.0.300")
    guarded = OscServer(engine, port=0, allow=parse_allow_list("10.0.0.0/8"))
    guarded.start()
    try:
        SimpleUDPClient("127.0.0.1", guarded.port).send_message("/grow/pitch", 300.0)
        wait_for(lambda: guarded.received == 1)
        assert guarded.denied == 1 and not engine.inbox
    finally:
        guarded.stop()
