"""torch -> ONNX export of a trained run, and the torch-free pieces both sides share.

`contract.py` (the artifact), `errors.py` (the exception family), `atomic.py` (atomic file
writes) and `growth.py` (the fixed growth strategies) import only the standard library and numpy:
`realtime/` reads them and never imports torch or trainer/. `onnx_export.py`, `step_graph.py`,
`verify.py` and `cli.py` need torch and trainer/.
"""
