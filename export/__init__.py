"""torch -> ONNX export of a trained run, and the torch-free pieces both sides share.

`contract.py` (the artifact), `errors.py` (the exception family), `atomic.py` (atomic file
writes), `growth.py` (the fixed growth strategies), `audio.py` (loading and checking audio files)
and `features.py` (f0, loudness, MFCC: the same extractors at training and at play time) import
only the standard library, numpy, soundfile and librosa: `realtime/` uses them and never imports
torch or trainer/. `onnx_export.py`, `step_graph.py`,
`verify.py` and `cli.py` need torch and trainer/.
"""
