"""Loading audio for training: any file soundfile reads -> mono float32 at the model's rate.

Checks happen here once, with messages that name the file: unreadable or truncated files, silence,
clipping (a warning), non-finite samples.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from core.errors import AudioFileError, check_input_file

AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3", ".w64", ".caf")
SILENCE_PEAK_DBFS = -60.0
CLIP_LEVEL = 0.999
CLIP_FRACTION_WARN = 1e-3


def find_audio_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of audio files.

    Raises AudioFileError for a path that does not exist or a folder holding no audio.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise AudioFileError(f"{path}: no such file or folder")
        if path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
            )
            if not inside:
                raise AudioFileError(
                    f"{path}: folder holds no audio files (looked for {', '.join(AUDIO_SUFFIXES)})"
                )
            found.extend(inside)
        else:
            found.append(path)
    if not found:
        raise AudioFileError("no audio files given")
    return list(dict.fromkeys(found))


def check_riff_complete(path: Path) -> None:
    """Raise AudioFileError if a RIFF/WAVE file is shorter than its header says.

    libsndfile reads a truncated WAV without complaint, silently returning fewer samples; a file
    cut off in a copy or a download must not train as if it were whole.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return
        if head[:4] == b"RF64":
            return  # sizes live in a ds64 chunk; libsndfile checks those itself
        (riff_size,) = struct.unpack("<I", head[4:8])
        if riff_size + 8 > size:
            raise AudioFileError(
                f"{path}: truncated WAV file: header says {riff_size + 8} bytes, file has {size}"
            )
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                if offset + 8 + chunk_size > size:
                    raise AudioFileError(
                        f"{path}: truncated WAV file: data chunk says {chunk_size} bytes, "
                        f"only {size - offset - 8} present"
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)


def load_audio(path: str | Path, *, sample_rate: int) -> np.ndarray:
    """Read `path`, downmix to mono and resample to `sample_rate` Hz.

    Returns float32 samples [n_samples] in [-1, 1]. Raises AudioFileError (naming the file) for
    unreadable, truncated, empty, non-finite or silent audio; warns when the audio is clipped.
    """
    path = Path(path)
    check_input_file(path, AudioFileError)
    check_riff_complete(path)
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise AudioFileError(f"{path}: cannot read as audio ({err})") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: file holds no samples")
    audio = data.mean(axis=1)  # [n_samples] mono
    if not np.all(np.isfinite(audio)):
        raise AudioFileError(f"{path}: audio holds NaN or infinite samples")
    peak = float(np.max(np.abs(audio)))
    if peak <= 10 ** (SILENCE_PEAK_DBFS / 20):
        peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
        raise AudioFileError(
            f"{path}: audio is silent (peak {peak_db:.1f} dBFS, "
            f"need above {SILENCE_PEAK_DBFS} dBFS)"
        )
    clipped = float(np.mean(np.abs(data) >= CLIP_LEVEL))
    if clipped > CLIP_FRACTION_WARN:
        warnings.warn(
            f"{path}: {100 * clipped:.2f}% of samples are clipped; the model will learn the "
            "distortion",
            stacklevel=2,
        )
    if file_rate != sample_rate:
        import librosa

        audio = librosa.resample(audio, orig_sr=file_rate, target_sr=sample_rate)
    return np.ascontiguousarray(audio, dtype=np.float32)
