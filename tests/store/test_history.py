"""What came back about each issue (bounced, complained, unsubscribed, complaint rate), on real SQLite and
PostgreSQL, from the ledger and from feedback events recorded the way the webhooks and the mailbox reader do."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text, update

from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.feedback import Feedback, FeedbackKind, record_feedback
from newsletter.store.history import GMAIL_COMPLAINT_LINE, history, issue_figures
from newsletter.store.models import Delivery, DeliveryStatus, Subscriber, SubscriberStatus
from newsletter.store.pauses import record_pause, resume
from newsletter.store.subscribers import unsubscribe
from tests.conftest import DAY
from tests.pg import analyzed, rows_read

NOW = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(hours=5)
PEOPLE = 1001  # one is refused at the send: 1,000 sent, the complaint rate's denominator


def sent_issue(store: Store, people: int = PEOPLE) -> int:
    """The subscribers, the issue sent to each of them; the send's id."""
    with store.session() as session:
        session.execute(Subscriber.__table__.insert(), [  # type: ignore[attr-defined]
            {"email": f"lecteur{i:04d}@example.org", "status": "active", "created_at": NOW, "updated_at": NOW}
            for i in range(people)])
    send_id = ledger.get_or_create_send(store, DAY, "Objet", NOW)
    ledger.enqueue(store, send_id, NOW)
    with store.session() as session:
        session.execute(update(Delivery).values(status=DeliveryStatus.SENT.value))
    return send_id


def report(store: Store, kind: FeedbackKind, number: int, *, source: str = "mailgun", event: str = "") -> None:
    record_feedback(store, Feedback(kind, source, event or f"{kind.value}-{number}", LATER,
                                    email=f"lecteur{number:04d}@example.org", issue=DAY), now=LATER)


@pytest.mark.parametrize("complaints, flagged", [(2, False), (3, False), (4, True)],
                         ids=["under 0.3 %", "at 0.3 %", "over 0.3 %"])
def test_figures_count_each_row_once_per_kind_and_flag_complaints_above_gmails_line(
        db: Store, complaints: int, flagged: bool) -> None:
    send_id = sent_issue(db)
    # Refused at the send (SMTP 5.1.1): a failed row whose address the engine marked bounced.
    with db.session() as session:
        first = session.scalar(select(Delivery.id).where(Delivery.send_id == send_id).order_by(Delivery.id))
        session.execute(update(Delivery).where(Delivery.id == first).values(status=DeliveryStatus.FAILED.value))
        session.execute(update(Subscriber).where(Subscriber.email == "lecteur0000@example.org")
                        .values(status=SubscriberStatus.BOUNCED.value))
    report(db, FeedbackKind.HARD_BOUNCE, 1)
    report(db, FeedbackKind.HARD_BOUNCE, 1, source="dsn", event="dsn-1")  # the same bounce, told twice
    report(db, FeedbackKind.HARD_BOUNCE, 2)
    report(db, FeedbackKind.SOFT_BOUNCE, 3)  # not a bounce of the issue
    for number in range(10, 10 + complaints):
        report(db, FeedbackKind.COMPLAINT, number)
    report(db, FeedbackKind.COMPLAINT, 10, source="arf", event="arf-10")  # one person, two reports
    report(db, FeedbackKind.UNSUBSCRIBE, 20)  # a provider-side unsubscribe
    unsubscribe(db, "lecteur0021@example.org", now=LATER)  # the link in the message

    figures = issue_figures(db, DAY)
    assert figures is not None
    assert (figures.sent, figures.failed, figures.bounced, figures.complained, figures.unsubscribed) == \
        (PEOPLE - 1, 1, 3, complaints, 2)
    assert figures.complaint_rate == pytest.approx(complaints / (PEOPLE - 1))
    assert figures.complaints_too_high is flagged and GMAIL_COMPLAINT_LINE == 0.003
    assert history(db) == [figures]


def test_history_marks_a_send_paused_until_it_is_resumed(db: Store) -> None:
    send_id = sent_issue(db)
    record_pause(db, send_id, reason="12 hard bounces among the last 100 messages", bounces=12, messages=100,
                 now=NOW)
    [row] = history(db)
    assert row.paused
    cleared = resume(db, send_id, LATER)
    assert cleared is not None and cleared.bounces == 12 and resume(db, send_id, LATER) is None
    assert not history(db)[0].paused


def test_an_issue_never_sent_has_no_figures(db: Store) -> None:
    assert issue_figures(db, DAY) is None and history(db) == []


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_an_issues_figures_read_only_the_subscribers_that_came_back(db: Store) -> None:
    """What ``status`` shows costs one pass over the send's index, not a join of every recipient:
    with nobody who came back, no subscriber row is read (1,000,000 recipients made it seconds)."""
    sent_issue(db, 3000)
    report(db, FeedbackKind.UNSUBSCRIBE, 20)
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        figures = issue_figures(db, DAY)
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert figures is not None and (figures.sent, figures.unsubscribed) == (3000, 1)
    with db.engine.connect() as conn:
        plans = [analyzed(conn, sql, parameters) for sql, parameters in statements]
    assert sum(rows_read(plan, "subscribers") for plan in plans) <= 1


def test_bounces_are_counted_by_reason_each_row_once_hard_before_soft(db: Store) -> None:
    from newsletter.store.history import BounceReason

    sent_issue(db, 10)

    def bounce(kind: FeedbackKind, number: int, reason: str, event: str) -> None:
        record_feedback(db, Feedback(kind, "dsn", event, LATER, email=f"lecteur{number:04d}@example.org", issue=DAY,
                                     reason=reason), now=LATER)

    bounce(FeedbackKind.HARD_BOUNCE, 1, "user unknown", "a")
    bounce(FeedbackKind.HARD_BOUNCE, 1, "user unknown", "b")  # the same row, told twice
    bounce(FeedbackKind.HARD_BOUNCE, 2, "user unknown", "c")
    bounce(FeedbackKind.HARD_BOUNCE, 3, "host unknown", "d")
    bounce(FeedbackKind.SOFT_BOUNCE, 4, "mailbox full", "e")
    bounce(FeedbackKind.SOFT_BOUNCE, 4, "mailbox full", "f")
    bounce(FeedbackKind.SOFT_BOUNCE, 5, "", "g")  # a provider that gave no reason
    record_feedback(db, Feedback(FeedbackKind.COMPLAINT, "arf", "h", LATER, email="lecteur0006@example.org",
                                 issue=DAY), now=LATER)
    figures = issue_figures(db, DAY)
    assert figures is not None and figures.bounce_reasons == (
        BounceReason("hard", "user unknown", 2), BounceReason("hard", "host unknown", 1),
        BounceReason("soft", "", 1), BounceReason("soft", "mailbox full", 1))
