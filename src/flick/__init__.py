"""Flick: a self-hostable short-video platform."""

__version__ = "0.1.0"
