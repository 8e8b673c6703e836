"""How alike two reports are."""

from __future__ import annotations

from tests.tickets.flows import COMPLAINT
from tickets.duplicates import similarity


def test_similarity_ignores_particles_and_favours_the_shorter_report() -> None:
    assert similarity("3栋下水道堵了", "3栋的下水道堵了啊！") == 1.0
    assert similarity(COMPLAINT, "3栋楼下水道堵了几天了，臭死人了") >= 0.45
    assert similarity(COMPLAINT, "广场舞音响太大声了") == 0.0
    assert similarity("", "啊") == 0.0
