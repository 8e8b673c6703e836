"""The layers of docs/ARCHITECTURE.md, checked with import-linter's contracts in
pyproject.toml: an import that runs back up a layer fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# In a separate process: import-linter configures logging, which would disable the
# loggers that later tests capture.
_LINT = (
    "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
)


def test_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _LINT], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
