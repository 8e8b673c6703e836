"""The installed version of gridcast (as the CLI, /healthz and the OpenAPI document show it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("gridcast")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0.0.0"
