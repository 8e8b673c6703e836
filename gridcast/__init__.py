"""gridcast: a WeChat group bot and backend for a town's four-level grid governance.

This package is the top of the house: the command line (:mod:`gridcast.cli`), the
runtime that wires web, bots, broadcaster and scheduler together
(:mod:`gridcast.runtime`), and the sandbox deployment (:mod:`gridcast.deployment`).
"""

from __future__ import annotations

from core.version import VERSION as __version__

__all__ = ["__version__"]
