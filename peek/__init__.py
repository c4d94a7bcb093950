"""Peek: a platform that runs, connects and serves hundreds of small plugins."""

__version__ = "0.1.0"
