"""A strict OSC 1.0 datagram decoder for the receiving side.

python-osc's parser swallows malformed packets and is not hardened against hostile bytes, so
every datagram is checked here, byte by byte, before anything acts on it: total size, 4-byte
alignment, NUL-terminated ASCII address and type tags, argument sizes inside the packet, bundle
element sizes and nesting depth. Anything else raises OscFormatError with the reason; nothing in
here can loop without consuming bytes. Bundle time tags are read and ignored: controls act on
arrival (the engine stamps them with its own sample position).
"""

from __future__ import annotations

import struct

from core.errors import GrowError

MAX_DATAGRAM = 8192  # bytes; a control message is tens of bytes
MAX_ADDRESS = 128  # characters
MAX_ARGS = 16
MAX_BUNDLE_DEPTH = 4
MAX_MESSAGES = 64  # per datagram
BUNDLE_TAG = b"#bundle\x00"
NUMBER_FORMATS = {"i": ">i", "f": ">f", "h": ">q", "d": ">d"}
CONSTANTS = {"T": True, "F": False, "N": None}

OscArg = int | float | str | bytes | bool | None


class OscFormatError(GrowError):
    """A datagram that is not well-formed OSC (or exceeds our limits)."""


def _string(data: bytes, at: int, what: str) -> tuple[str, int]:
    """A NUL-terminated, 4-byte padded ASCII string at `at`; returns (text, next offset)."""
    end = data.find(b"\x00", at)
    if end < 0:
        raise OscFormatError(f"{what} is not NUL-terminated")
    raw = data[at:end]
    if not raw.isascii() or any(c < 0x20 for c in raw):
        raise OscFormatError(f"{what} is not printable ASCII")
    following = (end + 4) & ~3
    if following > len(data):
        raise OscFormatError(f"{what} padding runs past the end")
    return raw.decode("ascii"), following


def decode_message(data: bytes) -> tuple[str, tuple[OscArg, ...]]:
    """One OSC message: (address, arguments)."""
    address, at = _string(data, 0, "address")
    if not address.startswith("/"):
        raise OscFormatError("address does not start with '/'")
    if len(address) > MAX_ADDRESS:
        raise OscFormatError(f"address longer than {MAX_ADDRESS} characters")
    if at == len(data):  # OSC 1.0 allows a message without a type tag string
        return address, ()
    tags, at = _string(data, at, "type tags")
    if not tags.startswith(","):
        raise OscFormatError("type tag string does not start with ','")
    tags = tags[1:]
    if len(tags) > MAX_ARGS:
        raise OscFormatError(f"more than {MAX_ARGS} arguments")
    args: list[OscArg] = []
    for tag in tags:
        if tag in NUMBER_FORMATS:
            fmt = NUMBER_FORMATS[tag]
            size = struct.calcsize(fmt)
            if at + size > len(data):
                raise OscFormatError(f"argument '{tag}' runs past the end")
            args.append(struct.unpack_from(fmt, data, at)[0])
            at += size
        elif tag in ("s", "S"):
            text, at = _string(data, at, "string argument")
            args.append(text)
        elif tag == "b":
            if at + 4 > len(data):
                raise OscFormatError("blob size runs past the end")
            size = struct.unpack_from(">i", data, at)[0]
            if size < 0 or at + 4 + size > len(data):
                raise OscFormatError("blob runs past the end")
            args.append(data[at + 4 : at + 4 + size])
            at += 4 + ((size + 3) & ~3)
        elif tag in CONSTANTS:
            args.append(CONSTANTS[tag])
        else:
            raise OscFormatError(f"unsupported type tag {tag!r}")
    if at != len(data):
        raise OscFormatError("bytes left after the last argument")
    return address, tuple(args)


def _decode(data: bytes, depth: int, out: list[tuple[str, tuple[OscArg, ...]]]) -> None:
    if data.startswith(b"#"):
        if not data.startswith(BUNDLE_TAG) or len(data) < 16:
            raise OscFormatError("malformed bundle header")
        if depth >= MAX_BUNDLE_DEPTH:
            raise OscFormatError(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
        at = 16  # tag + 8-byte time tag
        while at < len(data):
            if at + 4 > len(data):
                raise OscFormatError("bundle element size runs past the end")
            size = struct.unpack_from(">i", data, at)[0]
            if size <= 0 or size % 4 or at + 4 + size > len(data):
                raise OscFormatError("bad bundle element size")
            _decode(data[at + 4 : at + 4 + size], depth + 1, out)
            at += 4 + size
        return
    if len(out) >= MAX_MESSAGES:
        raise OscFormatError(f"more than {MAX_MESSAGES} messages in one datagram")
    out.append(decode_message(data))


def decode_datagram(data: bytes) -> list[tuple[str, tuple[OscArg, ...]]]:
    """Every message of a datagram (a message or a bundle, nested), in order."""
    if len(data) > MAX_DATAGRAM:
        raise OscFormatError(f"datagram of {len(data)} bytes exceeds {MAX_DATAGRAM}")
    if not data or len(data) % 4:
        raise OscFormatError("datagram size is not a positive multiple of 4")
    out: list[tuple[str, tuple[OscArg, ...]]] = []
    _decode(data, 0, out)
    return out
