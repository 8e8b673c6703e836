from __future__ import annotations

import pytest

from models.db import AlreadyRunning, InstanceLock


def test_a_second_process_on_the_same_database_is_refused(db_url: str) -> None:
    first, second = InstanceLock(db_url), InstanceLock(db_url)
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match="另一个 gridcast run"):
            second.acquire()
    finally:
        first.release()
    second.acquire()  # free again once the first is gone
    second.release()
