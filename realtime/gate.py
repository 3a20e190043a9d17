"""The silence gate: where the loudness control falls below a threshold, the voice fades to
exact silence.

A learned model never outputs true zero: fed the loudness of digital silence it still plays a
quiet tone, and a listener hears that hum between phrases. The gate guarantees silence. It opens
as soon as the loudness control reaches `threshold_db` and closes only once it falls to
HYSTERESIS_DB below it or lower (so a level hovering at the threshold does not chatter); when
closed, its gain falls linearly to 0 over RELEASE_S. Evaluated once per control frame (the synth
interpolates between frames, so opening is a one-frame ramp, never a click).
"""

from __future__ import annotations

from dataclasses import dataclass

HYSTERESIS_DB = 6.0
RELEASE_S = 0.05


@dataclass
class LoudnessGate:
    """Gate state of one voice; `step` once per control frame."""

    frame_rate: float  # control frames per second
    open: bool = False
    gain: float = 0.0  # 0..1, multiplies the voice's level

    def step(self, loudness_db: float, threshold_db: float) -> float:
        """Update with this frame's loudness control (dB); returns the gain 0..1."""
        if self.open:
            self.open = loudness_db > threshold_db - HYSTERESIS_DB
        else:
            self.open = loudness_db >= threshold_db
        if self.open:
            self.gain = 1.0
        else:
            self.gain = max(0.0, self.gain - 1.0 / (RELEASE_S * self.frame_rate))
        return self.gain
