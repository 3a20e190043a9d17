"""The project's exception family: errors a user can fix, printed by the CLIs without traceback."""


class GrowError(Exception):
    """Base class: the message names the bad value and what was expected."""


class ParameterError(GrowError, ValueError):
    """A bad option or argument value."""


class AudioFileError(GrowError):
    """An input file that cannot be used for training (unreadable, silent, too short...)."""


class TrainingError(GrowError):
    """Training cannot go on (diverged, run directory in the wrong state...)."""
