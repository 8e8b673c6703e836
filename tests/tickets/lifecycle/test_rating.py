"""Ratings, 重办 after an unsatisfied one, and the close when the window ends."""

from __future__ import annotations

from models.enums import Rating, TicketLevel, TicketState
from tests.tickets.lifecycle.factories import (
    LATER,
    NOW,
    VILLAGE,
    at_town,
    chief,
    in_progress,
    justice,
    neighbour,
    recipients,
    refused,
    reported,
    reporter,
    resolved,
    run,
    town,
)
from tickets.lifecycle import (
    SYSTEM,
    Accept,
    AddReporter,
    CloseWithoutRating,
    Rate,
    Recipient,
    RecipientKind,
    Report,
    Resolve,
    apply,
)

# --------------------------------------------------------------------- ratings


def test_unsatisfied_reopens_one_level_up() -> None:
    step = apply(resolved(), Rate(Rating.UNSATISFIED, "还在漏水"), reporter, LATER)
    t = step.ticket
    assert (t.state, t.level, t.assignee_id) == (TicketState.REOPENED, TicketLevel.VILLAGE, None)
    assert (t.resolved_at, t.resolved_level, t.ratings, t.reopen_count) == (None, None, (), 1)
    assert step.event.note == "不满意：还在漏水"
    assert recipients(step) == [
        Recipient.post(TicketLevel.VILLAGE, VILLAGE),
        Recipient.person("g1"),
    ]
    assert "重办" in step.notifications[0].text
    t = run(t, (Accept(), chief), (Resolve("重新施工"), chief))
    assert t.resolved_level is TicketLevel.VILLAGE


def test_other_reporters_are_not_told_they_were_unsatisfied() -> None:
    """Regression: every reporter was told 您对工单…的处理不满意, the rater twice."""
    two = resolved(apply(in_progress(), AddReporter("r2"), SYSTEM, LATER).ticket)
    step = apply(two, Rate(Rating.UNSATISFIED), reporter, LATER)
    to_reporters = [n for n in step.notifications if n.recipient.kind is RecipientKind.PERSON]
    texts = {n.recipient.person_id: n.text for n in to_reporters}
    assert "r1" not in texts and "有反映人评价不满意" in texts["r2"]
    assert "收到您的评价（不满意）" in step.reply


def test_unsatisfied_at_the_top_stays_at_the_top() -> None:
    t = run(at_town(), (Accept(), town), (Resolve("协调好了"), town))
    t = run(t, (Rate(Rating.UNSATISFIED), reporter))
    assert (t.state, t.level) == (TicketState.REOPENED, TicketLevel.TOWN)

    t = run(reported(), (Resolve("调解了"), justice), (Rate(Rating.UNSATISFIED), reporter))
    assert (t.state, t.level, t.department_code) == (
        TicketState.REOPENED,
        TicketLevel.DEPARTMENT,
        "justice",
    )
    refused(t, Accept(), town, "报到")
    t = run(t, (Report(), justice))
    assert t.state is TicketState.IN_PROGRESS


def test_several_reporters_rate_and_the_worst_counts() -> None:
    t = resolved(run(in_progress(), (AddReporter("r2"), SYSTEM)))
    t = run(t, (Rate(Rating.BASICALLY_SATISFIED), neighbour))
    assert t.state is TicketState.RATING
    refused(t, Rate(Rating.SATISFIED), neighbour, "已评价过")
    t = run(t, (Rate(Rating.SATISFIED), reporter))
    assert (t.state, t.rating, t.closed_at) == (TicketState.CLOSED, Rating.BASICALLY_SATISFIED, NOW)


def test_one_unsatisfied_reporter_reopens_even_after_a_satisfied_one() -> None:
    t = resolved(run(in_progress(), (AddReporter("r2"), SYSTEM)))
    t = run(t, (Rate(Rating.SATISFIED), reporter), (Rate(Rating.UNSATISFIED), neighbour))
    assert t.state is TicketState.REOPENED and t.ratings == ()


def test_no_rating_closes_without_counting_as_satisfied() -> None:
    step = apply(resolved(), CloseWithoutRating(), SYSTEM, LATER)
    assert (step.ticket.state, step.ticket.rating, step.ticket.closed_at) == (
        TicketState.CLOSED,
        None,
        LATER,
    )
    assert "未评价" in step.event.note
    assert step.notifications == ()


def test_window_end_keeps_the_ratings_received() -> None:
    t = resolved(run(in_progress(), (AddReporter("r2"), SYSTEM)))
    t = run(t, (Rate(Rating.SATISFIED), reporter), (CloseWithoutRating(), SYSTEM))
    assert (t.state, t.rating) == (TicketState.CLOSED, Rating.SATISFIED)
