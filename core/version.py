"""The package version, recorded in every run, checkpoint and artifact."""

__version__ = "0.1.0"
