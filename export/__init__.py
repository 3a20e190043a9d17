"""torch -> ONNX export of a trained run (arrives with the export issue).

`export/contract.py` will hold the artifact contract read by `realtime/`; it must import nothing
heavy.
"""
