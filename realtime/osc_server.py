"""The OSC server of `grow-live`: one receiving thread on a UDP socket.

Per datagram: the allow-list, then the strict decoder (realtime.osc_wire), then the namespace
(realtime.osc_namespace), then `Engine.post` — handlers only validate and queue, they never
touch the audio. Rejections are counted by reason and logged at most once per address per
second. A flood is throttled to 4000 datagrams/s so that the audio threads keep the GIL; the
kernel drops the excess. `/grow/status` is answered to the sender with the engine state.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from pythonosc.osc_message_builder import OscMessageBuilder

from core.errors import ParameterError
from realtime.engine import Engine
from realtime.osc_namespace import STATUS_ADDRESS, Clamp, OscValueError, translate
from realtime.osc_wire import OscFormatError, decode_datagram

log = logging.getLogger("timbre_grower.osc")
BURST = 40  # datagrams handled per 10 ms at most (4000/s): beyond that the thread yields the
# GIL to the audio threads and the kernel's socket buffer drops the excess

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_list(text: str) -> list[Network]:
    """'127.0.0.1,192.168.1.0/24' -> networks; ParameterError naming a bad entry."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ParameterError(f"--osc-allow: {item!r} is not an IP address or network") from None
    return networks


class RateLimitedLog:
    """Log a rejection at most once per key per `interval` seconds (keys are bounded)."""

    def __init__(self, interval: float = 1.0, max_keys: int = 1024) -> None:
        self.interval, self.max_keys = interval, max_keys
        self.last: dict[str, float] = {}

    def warn(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self.last.get(key, -1e9) < self.interval:
            return
        if len(self.last) >= self.max_keys:
            self.last.clear()
        self.last[key] = now
        log.warning("%s", message)


class OscServer:
    """Receives on host:port; `status()` supplies the values of the /grow/status reply."""

    def __init__(
        self,
        engine: Engine,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        allow: Sequence[Network] = (),
        status: Callable[[], list] | None = None,
    ) -> None:
        self.engine = engine
        self.allow = list(allow)
        self.status = status
        self.presets = list(engine.preset_names)
        self.clamp = Clamp()
        self.received = 0  # datagrams
        self.accepted = 0  # messages posted to the engine
        self.rejected: Counter[str] = Counter()  # reason -> messages (or datagrams)
        self.denied = 0  # datagrams from addresses outside the allow-list
        self.replies = 0
        self._log = RateLimitedLog()
        self._running = False
        self._thread: threading.Thread | None = None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as err:
            self.sock.close()
            raise ParameterError(
                f"cannot listen for OSC on {host}:{port} ({err.strerror})"
            ) from None
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._serve, name="osc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.sock.close()

    def _serve(self) -> None:
        window, handled = time.monotonic(), 0
        while self._running:
            handled += 1
            if handled > BURST:
                now = time.monotonic()
                if now - window < 0.01:
                    time.sleep(0.01 - (now - window))
                window, handled = time.monotonic(), 0
            try:
                data, sender = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                if self._running:
                    time.sleep(0.01)  # e.g. ICMP port unreachable from a reply; keep serving
                continue
            try:
                self.handle(data, sender)
            except Exception as err:  # a bug here must not end the server: count and log it
                self._reject("internal error", "<internal>", f"OSC handler error: {err!r}")

    def _reject(self, reason: str, key: str, message: str) -> None:
        self.rejected[reason] += 1
        self._log.warn(key, message)

    def handle(self, data: bytes, sender: tuple) -> None:
        """One datagram from `sender` (host, port, ...)."""
        self.received += 1
        if self.allow:
            try:
                ip = ipaddress.ip_address(sender[0])
            except ValueError:
                ip = None
            if ip is None or not any(ip in net for net in self.allow):
                self.denied += 1
                self._log.warn(f"deny {sender[0]}", f"OSC from {sender[0]} refused (--osc-allow)")
                return
        try:
            messages = decode_datagram(data)
        except OscFormatError as err:
            self._reject("malformed", "<malformed>", f"malformed OSC datagram: {err}")
            return
        for address, args in messages:
            if address == STATUS_ADDRESS:
                self.reply_status(sender)
                continue
            try:
                control = translate(address, args, self.presets, self.clamp)
            except OscValueError as err:
                reason = "unknown address" if str(err) == "unknown address" else "bad arguments"
                self._reject(reason, address[:64], f"OSC {address[:64]}: {err}")
                continue
            if control is None:
                continue
            if not self.engine.post(control):
                self._reject("engine busy", "<busy>", "engine inbox full: OSC control dropped")
                continue
            self.accepted += 1

    def reply_status(self, sender: tuple) -> None:
        builder = OscMessageBuilder(STATUS_ADDRESS)
        for value in self.status() if self.status else []:
            builder.add_arg(value)
        try:
            self.sock.sendto(builder.build().dgram, sender)
            self.replies += 1
        except OSError as err:
            self._reject("reply failed", "<reply>", f"cannot answer {sender[0]}: {err.strerror}")
