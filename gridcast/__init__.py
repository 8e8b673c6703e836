"""gridcast: a WeChat group bot and backend for a town's four-level grid governance."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridcast")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
