"""provmon: the monitor for AI image-generation providers."""

__version__ = "0.1.0"
