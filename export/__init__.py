"""torch -> ONNX export of a trained run.

`contract.py` (the artifact's shapes, metadata and version) imports nothing heavy: `realtime/`
reads it and nothing else of this package. `onnx_export.py`, `step_graph.py`, `verify.py` and
`cli.py` need torch and trainer/.
"""
