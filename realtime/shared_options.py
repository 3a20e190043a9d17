"""Command-line options that grow-live and grow-render share, defined once."""

from __future__ import annotations

import argparse

from realtime.params import GROWTH_MODES, SPECS

GROWTH_HELP = (
    "off: the full learned timbre; free: the NCA grows while notes sound (its clock stops in "
    "silence); per-note: every note after silence grows from its fundamental"
)


def add_growth_and_gate(
    group: argparse._ActionsContainer,
    *,
    growth_default: str | None,
    default_note: str = "",
    gate_note: str = "",
) -> None:
    """--growth (default `growth_default`; None: the caller chooses, as `default_note` says) and
    --gate (default the parameter's, unless `gate_note` says the caller chooses)."""
    default = f" (default {growth_default or default_note})"
    group.add_argument(
        "--growth", choices=GROWTH_MODES, default=growth_default, help=GROWTH_HELP + default
    )
    gate_default = None if gate_note else SPECS["gate_db"].default
    group.add_argument(
        "--gate",
        type=float,
        default=gate_default,
        help="silence gate, dB: where the loudness falls 6 dB below it the output fades to exact "
        f"silence (default {gate_note or gate_default}; -120 = off)",
    )
