"""Fixtures of the rhythm tests: the tickets' small town in a fresh database."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.tickets.helpers import Town, make_town


@pytest.fixture
def town(engine: Engine) -> Town:
    return make_town(engine)
