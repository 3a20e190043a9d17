"""The bundled example recording."""

from pathlib import Path


def example_audio_path() -> Path:
    """5.5 s of solo flute (see trainer/assets/README.md for its source and licence)."""
    return Path(__file__).parent / "assets" / "flute.aif"
