"""The one place that makes ``wechaty`` 0.10.7 importable and well-behaved on Python 3.11.

Only :mod:`bot.wechaty_transport` calls :func:`load_wechaty`; nothing else imports
``wechaty`` (nor ``wechaty_puppet``, which must not be imported before the shim ran).
Four adaptations, each needed by the released packages:

* ``wechaty.WechatyOptions`` declares ``puppet_options: PuppetOptions = PuppetOptions()``.
  ``PuppetOptions`` is a dataclass with ``eq=True``, so its ``__hash__`` is ``None`` and
  Python 3.11's ``dataclasses`` rejects the instance as a mutable default
  (``ValueError: mutable default ... PuppetOptions``). Giving the class identity hashing
  lets the module import. The default instance stays shared between all
  ``WechatyOptions``, so callers must always pass a fresh ``PuppetOptions``.
* pyee 11's top-level ``AsyncIOEventEmitter``, which wechaty subclasses, warns on every
  instantiation; the name is pointed at ``pyee.asyncio.AsyncIOEventEmitter`` first.
* Importing ``wechaty`` creates a ``.wechaty`` cache directory in the current directory
  (class attributes evaluate ``config.cache_dir``). During the import ``CACHE_DIR`` points
  at a directory under the system temp dir instead, and is restored afterwards.
* Every wechaty module logger gets its own stderr handler at INFO with propagation off,
  which logs each received message and bypasses the application's logging setup. After
  the import they become ordinary library loggers: no handlers, propagating, WARNING
  (raise one with ``logging.getLogger("PuppetService").setLevel(logging.INFO)``).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any

_WECHATY_LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
_CACHE_DIR = Path(tempfile.gettempdir()) / "gridcast-wechaty-cache"


def use_current_pyee_emitter() -> None:
    """Point ``pyee.AsyncIOEventEmitter`` at ``pyee.asyncio.AsyncIOEventEmitter``.

    pyee 11 keeps the old top-level name as a subclass that warns (DeprecationWarning)
    on every instantiation; wechaty subclasses it for ``Wechaty``, ``Contact`` and
    ``Room``. Must run before any wechaty package binds the old name.
    """
    pyee: Any = importlib.import_module("pyee")
    pyee.AsyncIOEventEmitter = importlib.import_module("pyee.asyncio").AsyncIOEventEmitter


def make_puppet_options_hashable() -> None:
    """Give ``PuppetOptions`` identity hashing so ``WechatyOptions`` can be defined."""
    puppet_schema = importlib.import_module("wechaty_puppet.schemas.puppet")
    options_class = puppet_schema.PuppetOptions
    if options_class.__hash__ is None:
        options_class.__hash__ = object.__hash__


class _DropRoutineWarnings(logging.Filter):
    """PuppetService warns on every start that both an endpoint and a token are set,
    which is how gridcast always configures it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("there are endpoint<")


def _tame_wechaty_loggers() -> None:
    """Turn the loggers made by ``wechaty_puppet.get_logger`` into library loggers."""
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger) or logger.propagate:
            continue
        formats = {getattr(handler.formatter, "_fmt", None) for handler in logger.handlers}
        if formats != {_WECHATY_LOG_FORMAT}:
            continue
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(logging.WARNING)
    logging.getLogger("PuppetService").addFilter(_DropRoutineWarnings())


def load_wechaty() -> types.ModuleType:
    """Import ``wechaty`` with the 3.11 adaptations applied; safe to call repeatedly."""
    already = sys.modules.get("wechaty")
    if already is not None and hasattr(already, "Wechaty"):
        return already

    use_current_pyee_emitter()
    make_puppet_options_hashable()
    _CACHE_DIR.mkdir(parents=True, exist_ok=True)
    previous_cache_dir = os.environ.get("CACHE_DIR")
    os.environ["CACHE_DIR"] = str(_CACHE_DIR)
    try:
        with warnings.catch_warnings():
            # telnetlib and pkg_resources deprecations raised while wechaty imports.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module("wechaty")
            # Wechaty imports its puppet lazily on first use; import it now so its
            # logger is tamed with the others.
            importlib.import_module("wechaty_puppet_service")
    finally:
        if previous_cache_dir is None:
            os.environ.pop("CACHE_DIR", None)
        else:
            os.environ["CACHE_DIR"] = previous_cache_dir
    _tame_wechaty_loggers()
    return module
