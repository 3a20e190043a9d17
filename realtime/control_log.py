"""The control log: what `grow-live --record-osc` writes and `grow-render --osc-log` replays.

JSON Lines. The first line is a header, then one line per control the engine applied, stamped
with the engine's sample position (the first sample of the block it took effect in), then a
footer written when the session stops:

    {"format": "timbre-grower-control-log", "version": 1, "sample_rate": 48000, "seed": 0,
     "voices": 8, "model": "demo.onnx", "model_sha256": "..."}
    {"pos": 0, "action": "loudness_db", "args": [-15.0]}
    {"pos": 96000, "action": "note_on", "args": [60.0, 0.8]}
    {"end": 480000, "fade": 960}

Each line is one command (realtime.commands: `action` is a parameter name or a command's action,
`args` its arguments); replaying each with `Engine.apply` before sample `pos` reproduces the live
output sample for sample.
A header without "voices" (logs written before polyphony) was played by one voice.
The footer says how many samples were played and how long the closing fade-out was. A log cut
short (the player was killed) has no footer: the replay then ends one second after the last
control. The writer appends to `NAME.partial` and renames it to NAME when the session stops.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core.errors import ParameterError, check_input_file
from realtime.commands import Command, command_from
from realtime.synth import SEED_RANGE
from realtime.voice import MAX_VOICES

LOG_FORMAT = "timbre-grower-control-log"
LOG_VERSION = 1


@dataclass(frozen=True)
class LoggedControl:
    position: int  # output sample at which it takes effect
    command: Command


@dataclass(frozen=True)
class ControlLog:
    sample_rate: int
    seed: int
    voices: int
    model_sha256: str
    controls: list[LoggedControl]
    end: int  # samples played
    fade: int  # samples of fade-out ending at `end`


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ControlLogWriter:
    """Appends controls drained from an engine's recorder deque (call `drain` from a non-real-
    time thread), line-buffered so that a killed session keeps what it had written."""

    def __init__(
        self, path: Path, *, sample_rate: int, seed: int, voices: int, model_path: Path
    ) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self._file: IO[str] | None = self.partial.open("w", buffering=1)
        header = {
            "format": LOG_FORMAT,
            "version": LOG_VERSION,
            "sample_rate": sample_rate,
            "seed": seed,
            "voices": voices,
            "model": model_path.name,
            "model_sha256": file_sha256(model_path),
        }
        self._file.write(json.dumps(header) + "\n")
        self.written = 0

    def drain(self, recorder: deque[tuple[int, Command]]) -> None:
        assert self._file is not None
        while recorder:
            position, command = recorder.popleft()
            line = {"pos": position, "action": command.action, "args": list(command.args())}
            self._file.write(json.dumps(line) + "\n")
            self.written += 1

    def close(self, *, end: int, fade: int) -> None:
        """Write the footer and move the log to its final name."""
        if self._file is None:
            return
        self._file.write(json.dumps({"end": end, "fade": fade}) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self.partial, self.path)


def _command(action: Any, args: Any, where: str) -> Command:
    if not isinstance(action, str):
        raise ParameterError(f"{where}: 'action' must be a name")
    if not isinstance(args, list):
        raise ParameterError(f"{where}: 'args' must be a list")
    try:
        return command_from(action, args)
    except ParameterError as err:
        raise ParameterError(f"{where}: {err}") from None


def read_control_log(path: Path) -> ControlLog:
    """Parse and check a control log; ParameterError naming the file and line otherwise."""
    check_input_file(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ParameterError(f"{path}: cannot read the control log ({err})") from None
    try:
        header = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != LOG_FORMAT:
        raise ParameterError(f"{path}: not a Timbre Grower control log (no header line)")
    records = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            if number == len(lines):  # the player was killed mid-line: keep what came before
                break
            raise ParameterError(f"{path}:{number}: not a JSON line") from None
        if not isinstance(record, dict):
            raise ParameterError(f"{path}:{number}: expected a JSON object")
        records.append((number, record))
    if header.get("version") != LOG_VERSION:
        raise ParameterError(
            f"{path}: control log version {header.get('version')!r}; this build reads "
            f"version {LOG_VERSION}"
        )
    rate, seed = header.get("sample_rate"), header.get("seed", 0)
    if not isinstance(rate, int) or rate <= 0 or not isinstance(seed, int):
        raise ParameterError(f"{path}:1: header needs an integer sample_rate and seed")
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise ParameterError(f"{path}:1: seed {seed} must be in {SEED_RANGE[0]}..{SEED_RANGE[1]}")
    voices = header.get("voices", 1)
    if isinstance(voices, bool) or not isinstance(voices, int) or not 1 <= voices <= MAX_VOICES:
        raise ParameterError(f"{path}:1: voices {voices!r} must be a whole number 1..{MAX_VOICES}")
    controls: list[LoggedControl] = []
    end, fade = None, 0
    for number, record in records[1:]:
        where = f"{path}:{number}"
        if "end" in record:
            end, fade = record["end"], record.get("fade", 0)
            if not (isinstance(end, int) and isinstance(fade, int) and 0 <= fade <= end):
                raise ParameterError(f"{where}: footer needs integers 0 <= fade <= end")
            break
        position, action = record.get("pos"), record.get("action")
        if not isinstance(position, int) or position < 0:
            raise ParameterError(f"{where}: 'pos' must be a sample position >= 0")
        if controls and position < controls[-1].position:
            raise ParameterError(f"{where}: positions must not go backwards")
        controls.append(LoggedControl(position, _command(action, record.get("args"), where)))
    if end is None:
        end = (controls[-1].position if controls else 0) + rate
    return ControlLog(
        sample_rate=rate,
        seed=seed,
        voices=voices,
        model_sha256=str(header.get("model_sha256", "")),
        controls=controls,
        end=end,
        fade=fade,
    )
