"""The strict OSC decoder against python-osc's encoder, and against hostile bytes."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from realtime.osc_wire import MAX_DATAGRAM, OscFormatError, decode_datagram


def message(address: str, *args: Any, types: str | None = None) -> bytes:
    builder = OscMessageBuilder(address)
    for i, arg in enumerate(args):
        builder.add_arg(arg, types[i] if types else None)
    return builder.build().dgram


def test_messages_of_every_supported_type() -> None:
    data = message(
        "/grow/x",
        3,
        2.5,
        "flute",
        b"\x01\x02\x03",
        True,
        False,
        None,
        1.25,
        2**40,
        types="ifsbTFNdh",
    )
    [(address, args)] = decode_datagram(data)
    assert address == "/grow/x"
    assert args == (3, 2.5, "flute", b"\x01\x02\x03", True, False, None, 1.25, 2**40)
    [(_, nan)] = decode_datagram(message("/grow/gain", float("nan")))
    assert isinstance(nan[0], float) and math.isnan(nan[0])  # the namespace refuses it


def test_nested_bundles_keep_their_order() -> None:
    inner = OscBundleBuilder(IMMEDIATELY)
    inner.add_content(OscMessageBuilder("/b").build())
    outer = OscBundleBuilder(IMMEDIATELY)
    outer.add_content(OscMessageBuilder("/a").build())
    outer.add_content(inner.build())
    outer.add_content(OscMessageBuilder("/c").build())
    assert [a for a, _ in decode_datagram(outer.build().dgram)] == ["/a", "/b", "/c"]


def bundle(*elements: bytes, tag: bytes = b"#bundle\x00") -> bytes:
    body = b"".join(struct.pack(">i", len(e)) + e for e in elements)
    return tag + b"\x00" * 8 + body


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "positive multiple of 4"),
        (b"/ab", "positive multiple of 4"),
        (b"\x00" * (MAX_DATAGRAM + 4), "exceeds"),
        (b"/abc", "not NUL-terminated"),
        (b"abc\x00", "does not start with '/'"),
        (b"/a\x01\x00", "printable ASCII"),
        (b"/" + b"a" * 200 + b"\x00" * 3, "longer than"),
        (b"/a\x00\x00,f\x00\x00", "runs past the end"),
        (b"/a\x00\x00,x\x00\x00", "unsupported type tag 'x'"),
        (b"/a\x00\x00f\x00\x00\x00", "does not start with ','"),
        (b"/a\x00\x00,\x00\x00\x00\x00\x00\x00\x01", "bytes left"),
        (b"/a\x00\x00,b\x00\x00\x7f\xff\xff\xff", "blob runs past"),
        (b"/a\x00\x00,b\x00\x00\xff\xff\xff\xff", "blob runs past"),
        (b"/a\x00\x00,s\x00\x00abcd", "not NUL-terminated"),
        (b"/a\x00\x00," + b"f" * 20 + b"\x00\x00\x00", "more than 16 arguments"),
        (bundle(message("/a"), tag=b"#bundlX\x00"), "malformed bundle"),
        (b"#bundle\x00\x00\x00\x00\x00", "malformed bundle"),
        (b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x01\x00" + message("/a"), "bad bundle element"),
        (b"#bundle\x00" + b"\x00" * 8 + b"\xff\xff\xff\xfc", "bad bundle element"),
        (b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x03/a\x00\x00", "bad bundle element"),
        (bundle(bundle(bundle(bundle(bundle(message("/deep")))))), "nested deeper"),
        (bundle(*[message("/a")] * 65), "more than 64 messages"),
    ],
)
def test_malformed_datagrams_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(OscFormatError, match=reason):
        decode_datagram(data)


def test_random_and_mutated_bytes_never_escape_as_other_errors() -> None:
    """Fuzz: random datagrams and valid ones with bytes flipped, cut or extended either decode
    or raise OscFormatError -- nothing else, and quickly."""
    rng = np.random.default_rng(0)
    valid = [
        message("/grow/note", 60.0, 0.8),
        message("/grow/timbre/morph", "flute", "flute", 0.5),
        bundle(message("/grow/pitch", 440.0), message("/grow/nca/step", 3)),
    ]
    outcomes = {"ok": 0, "refused": 0}
    for trial in range(20_000):
        if trial % 2:
            data = rng.integers(0, 256, size=int(rng.integers(0, 64)) * 4, dtype=np.uint8).tobytes()
        else:
            raw = bytearray(valid[trial % 3])
            for _ in range(int(rng.integers(1, 4))):
                raw[int(rng.integers(0, len(raw)))] = int(rng.integers(0, 256))
            cut = int(rng.integers(0, 3))
            data = bytes(raw[: len(raw) - 4 * cut] if cut < 2 else raw + raw[:8])
        try:
            decode_datagram(data)
            outcomes["ok"] += 1
        except OscFormatError:
            outcomes["refused"] += 1
    assert outcomes["ok"] > 100 and outcomes["refused"] > 10_000
