"""Fathom: semantic code navigation for editors, fully offline."""

__version__ = "0.1.0"
