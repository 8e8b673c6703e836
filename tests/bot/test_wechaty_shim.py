"""The wechaty shim is still needed, and still enough.

Each check runs in a fresh interpreter: once ``wechaty`` is imported in this
process, nothing can show what a plain import would do. If a new wechaty release
fixes the ``PuppetOptions`` default, the first test fails: drop the shim then.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_plain_import_still_fails_on_the_unhashable_puppet_options(tmp_path: Path) -> None:
    result = run_python(
        """
        import warnings
        warnings.simplefilter("ignore")
        from wechaty_puppet.schemas.puppet import PuppetOptions
        assert PuppetOptions.__hash__ is None, "PuppetOptions is hashable now: the shim may go"
        try:
            import wechaty
        except ValueError as error:
            assert "mutable default" in str(error), error
            print("needed")
        else:
            print("not needed")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "needed"


def test_shim_imports_wechaty_cleanly(tmp_path: Path) -> None:
    result = run_python(
        """
        import logging, warnings
        warnings.simplefilter("error")
        from bot.wechaty_shim import load_wechaty
        wechaty = load_wechaty()
        assert load_wechaty() is wechaty
        from wechaty import Wechaty, WechatyOptions
        import wechaty_puppet_service
        for name in ("Wechaty", "PuppetService", "Message", "Room"):
            logger = logging.getLogger(name)
            assert logger.handlers == [] and logger.propagate, name
        print(Wechaty.__name__, WechatyOptions.__name__)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Wechaty WechatyOptions"
    # Importing wechaty used to create a ``.wechaty`` cache directory in the cwd.
    assert not (tmp_path / ".wechaty").exists()
