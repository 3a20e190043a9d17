"""Generate the Open Stage Control session for grow-live from the namespace and parameter
tables: `python -m realtime.controller_layout` writes controllers/open-stage-control/
timbre-grower.json (a test checks that the committed file equals this output).

Start Open Stage Control with `--send 127.0.0.1:9000` (or grow-live's --osc-host/--osc-port)
and open the session: a keyboard (notes with velocity, key release = note off), a fader per
parameter with its range and default, and buttons for the NCA and texture triggers. Widget
properties that are left out take Open Stage Control's defaults.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from realtime.osc_namespace import ROUTES
from realtime.params import GROWTH_MODES, SPECS

OSC_VERSION = "1.26.2"  # the Open Stage Control session format written here


def fader(address: str, top: int, left: int) -> dict[str, Any]:
    route = ROUTES[address]
    assert route.parameter is not None
    spec = SPECS[route.parameter]
    return {
        "type": "fader",
        "id": route.parameter,
        "label": f"{spec.doc} ({spec.unit})",
        "top": top,
        "left": left,
        "width": 90,
        "height": 300,
        "range": {"min": spec.low, "max": spec.high},
        "default": spec.default,
        "value": spec.default,
        "design": "compact",
        "address": address,
        "typeTags": "f",
    }


def button(address: str, label: str, left: int, on: float) -> dict[str, Any]:
    """A tap button: sends `address on` once per press."""
    return {
        "type": "button",
        "id": address.strip("/").replace("/", "_"),
        "label": label,
        "top": 480,
        "left": left,
        "width": 140,
        "height": 70,
        "mode": "tap",
        "on": on,
        "off": 0,
        "address": address,
    }


def session() -> dict[str, Any]:
    faders = [
        "/grow/loudness",
        "/grow/gain",
        "/grow/noise",
        "/grow/bend",
        "/grow/nca/rate",
        "/grow/mask/blend",
        "/grow/texture/blend",
        "/grow/texture/rate",
        "/grow/gate",
        "/grow/effect/pitch_shift",
        "/grow/effect/loudness_offset",
        "/grow/effect/mix",
    ]
    widgets: list[dict[str, Any]] = [
        {
            "type": "keyboard",
            "id": "keyboard",
            "top": 0,
            "left": 0,
            "width": 900,
            "height": 150,
            "keys": 37,
            "start": 48,
            "on": 1,
            "off": 0,
            "velocity": True,
            "address": "/grow/note",
            "typeTags": "f",
        },
        *[fader(a, 160, 100 * i) for i, a in enumerate(faders)],
        {
            "type": "fader",
            "id": "timbre",
            "label": "timbre preset (position in the list)",
            "top": 160,
            "left": 100 * len(faders),
            "width": 90,
            "height": 300,
            "range": {"min": 0, "max": 1},
            "address": "/grow/timbre",
            "typeTags": "f",
        },
        {
            "type": "fader",
            "id": "pitch",
            "label": "absolute pitch (Hz)",
            "top": 160,
            "left": 100 * len(faders) + 100,
            "width": 90,
            "height": 300,
            "range": {"min": SPECS["pitch_hz"].low, "max": SPECS["pitch_hz"].high},
            "logScale": True,
            "address": "/grow/pitch",
            "typeTags": "f",
        },
        button("/grow/nca/reset", "NCA reset", 0, 1),
        button("/grow/nca/step", "NCA step", 150, 1),
        button("/grow/nca/perturb", "perturb 50 %", 300, 0.5),
        button("/grow/texture/reset", "texture reset", 760, 1),
        button("/grow/texture/perturb", "texture: damage 1st half", 910, 0.5),
        {
            "type": "switch",
            "id": "growth",
            "label": "growth",
            "top": 480,
            "left": 450,
            "width": 300,
            "height": 70,
            "values": {mode: mode for mode in GROWTH_MODES},
            "value": "free",
            "address": "/grow/growth",
            "typeTags": "s",
        },
    ]
    return {
        "createdWith": "Open Stage Control",
        "version": OSC_VERSION,
        "type": "session",
        "content": {"type": "root", "id": "root", "widgets": widgets, "tabs": []},
    }


def render_layout() -> str:
    return json.dumps(session(), indent=2) + "\n"


def layout_path() -> Path:
    root = Path(__file__).resolve().parent.parent
    return root / "controllers" / "open-stage-control" / "timbre-grower.json"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else layout_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_layout())
    print(f"wrote {target}")
