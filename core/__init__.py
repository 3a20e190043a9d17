"""The torch-free base that the trainer, the exporter and the engine share: errors, atomic
writes, audio files, feature extraction (f0, loudness, MFCC), growth strategies, CLI help and
the package version. Imports numpy, soundfile and librosa only (tests/test_layers.py)."""
