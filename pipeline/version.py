"""The project's version (one place: the package, the batch side files and the health report read it)."""

__version__ = "0.1.0"
