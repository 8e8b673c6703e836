from __future__ import annotations

from gridcast.cli import main

main()
