"""Loading audio: formats, channels, rates, and every bad input named clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio import find_audio_files, load_audio
from core.errors import AudioFileError
from tests.conftest import harmonic_tone


def dominant_frequency(audio: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * sample_rate / len(audio))


def test_stereo_48k_is_downmixed_and_resampled(tone_file: Path) -> None:
    audio = load_audio(tone_file, sample_rate=24000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape[0] == 3 * 24000
    assert dominant_frequency(audio, 24000) == pytest.approx(330.0, abs=1.0)


@pytest.mark.parametrize("rate", [44100, 48000, 24000])
def test_any_rate_lands_at_the_model_rate(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"tone_{rate}.flac"
    sf.write(path, harmonic_tone(440.0, 1.0, sample_rate=rate), rate)
    audio = load_audio(path, sample_rate=24000)
    assert abs(audio.shape[0] - 24000) <= 1
    assert dominant_frequency(audio, 24000) == pytest.approx(440.0, abs=1.5)


def test_example_loads(example_path: Path) -> None:
    audio = load_audio(example_path, sample_rate=24000)
    assert 5.0 < audio.shape[0] / 24000 < 6.0


def test_truncated_wav_is_refused(tone_file: Path, tmp_path: Path) -> None:
    data = tone_file.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match=r"cut\.wav: truncated WAV file"):
        load_audio(cut, sample_rate=24000)


def test_text_file_named_wav_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioFileError, match=r"notes\.wav: cannot read as audio"):
        load_audio(fake, sample_rate=24000)


def test_silent_file_is_refused(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(24000, np.float32), 24000)
    with pytest.raises(AudioFileError, match=r"quiet\.wav: audio is silent"):
        load_audio(quiet, sample_rate=24000)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 24000)
    with pytest.raises(AudioFileError, match=r"empty\.wav: file holds no samples"):
        load_audio(empty, sample_rate=24000)


def test_clipped_audio_loads_with_a_warning(tmp_path: Path) -> None:
    loud = tmp_path / "loud.wav"
    sf.write(loud, np.clip(3 * harmonic_tone(220.0, 1.0, sample_rate=24000), -1, 1), 24000)
    with pytest.warns(UserWarning, match=r"loud\.wav: .*% of samples are clipped"):
        audio = load_audio(loud, sample_rate=24000)
    assert audio.shape == (24000,)


def test_folder_search(tmp_path: Path, tone_file: Path) -> None:
    (tmp_path / "sub").mkdir()
    nested = tmp_path / "sub" / "b.flac"
    sf.write(nested, harmonic_tone(220.0, 0.5, sample_rate=24000), 24000)
    (tmp_path / "readme.txt").write_text("not audio")
    assert find_audio_files([tmp_path]) == sorted([nested, tone_file])


def test_folder_without_audio_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(AudioFileError, match="folder holds no audio files"):
        find_audio_files([tmp_path])


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match=r"nope\.wav: no such file or folder"):
        find_audio_files([tmp_path / "nope.wav"])
