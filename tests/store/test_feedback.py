"""Feedback events on real SQLite and PostgreSQL: statuses only get stronger, an event counts once,
and each event finds its ledger row, even one recorded after the event arrived."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sql_event
from sqlalchemy import insert, select, text, update

from newsletter.store import ledger
from newsletter.store.database import Store
from newsletter.store.feedback import LINK_WINDOW, Feedback, FeedbackKind, FeedbackResult, record_feedback
from newsletter.store.models import Delivery, DeliveryStatus, Subscriber
from newsletter.store.subscribers import add_subscriber, find_subscriber, unsubscribe
from tests.conftest import DAY
from tests.pg import analyzed, indexes_used
from tests.helpers.feedback import counts_for_issue, events_for_send

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
HARD, SOFT = FeedbackKind.HARD_BOUNCE, FeedbackKind.SOFT_BOUNCE
COMPLAINT, UNSUB = FeedbackKind.COMPLAINT, FeedbackKind.UNSUBSCRIBE


def event(kind: FeedbackKind, event_id: str = "e1", *, email: str | None = "lea@example.org",
          at: datetime = NOW, **fields: object) -> Feedback:
    return Feedback(kind=kind, source="mailgun", event_id=event_id, occurred_at=at, email=email,
                    **fields)  # type: ignore[arg-type]


def status(store: Store, email: str = "lea@example.org") -> str:
    found = find_subscriber(store, email)
    assert found is not None
    return found.status


def sent_row(store: Store, provider_id: str = "") -> int:
    """The issue's ledger row for every subscriber, marked sent with this provider id; the id of the first."""
    send_id = ledger.get_or_create_send(store, DAY, "Objet", NOW)
    ledger.enqueue(store, send_id, NOW)
    with store.session() as session:
        session.execute(update(Delivery).values(status=DeliveryStatus.SENT.value, provider_id=provider_id))
        return int(session.scalar(select(Delivery.id).order_by(Delivery.id)) or 0)


@pytest.mark.parametrize("kind, expected", [(HARD, "bounced"), (COMPLAINT, "complained"), (UNSUB, "unsubscribed")])
def test_each_kind_sets_its_status(db: Store, kind: FeedbackKind, expected: str) -> None:
    add_subscriber(db, "Lea@Example.org", now=NOW)
    outcome = record_feedback(db, event(kind, email="LEA@example.ORG"), now=NOW)
    assert outcome.result is FeedbackResult.APPLIED
    assert (outcome.previous_status, outcome.new_status) == ("active", expected)
    assert status(db) == expected


@pytest.mark.parametrize("first, then, final", [
    (COMPLAINT, UNSUB, "complained"), (COMPLAINT, HARD, "complained"), (UNSUB, HARD, "unsubscribed"),
    (HARD, UNSUB, "unsubscribed"), (HARD, COMPLAINT, "complained"), (UNSUB, COMPLAINT, "complained"),
])
def test_a_status_is_never_weakened(db: Store, first: FeedbackKind, then: FeedbackKind, final: str) -> None:
    add_subscriber(db, "lea@example.org", now=NOW)
    record_feedback(db, event(first, "a"), now=NOW)
    record_feedback(db, event(then, "b"), now=NOW)
    assert status(db) == final


def test_an_unsubscribed_person_who_bounces_stays_unsubscribed(db: Store) -> None:
    add_subscriber(db, "lea@example.org", now=NOW)
    unsubscribe(db, "lea@example.org", now=NOW)
    outcome = record_feedback(db, event(HARD), now=NOW)
    assert not outcome.changed and status(db) == "unsubscribed"


def test_the_same_event_twice_counts_once(db: Store) -> None:
    add_subscriber(db, "lea@example.org", now=NOW)
    first = record_feedback(db, event(SOFT, "same", issue=DAY), now=NOW)
    again = record_feedback(db, event(SOFT, "same", issue=DAY), now=NOW)
    assert (first.result, again.result) == (FeedbackResult.APPLIED, FeedbackResult.DUPLICATE)
    with db.session() as session:
        assert session.scalar(text("select count(*) from feedback_events")) == 1


def test_soft_bounces_make_bounced_at_the_limit_within_the_window(db: Store) -> None:
    add_subscriber(db, "lea@example.org", now=NOW)
    days = [NOW - timedelta(days=9), NOW - timedelta(days=5), NOW - timedelta(days=3)]
    for n, at in enumerate(days):
        record_feedback(db, event(SOFT, f"s{n}", at=at, provider_message_id=f"m{n}"), now=NOW)
    assert status(db) == "active"  # the first one is older than 7 days
    outcome = record_feedback(db, event(SOFT, "s3", provider_message_id="m3"), now=NOW)
    assert outcome.new_status == "bounced"


def test_retries_of_one_message_count_as_one_soft_bounce(db: Store) -> None:
    add_subscriber(db, "lea@example.org", now=NOW)
    for n in range(5):
        record_feedback(db, event(SOFT, f"retry{n}", provider_message_id="<same@mg.example.org>"), now=NOW)
    assert status(db) == "active"
    record_feedback(db, event(SOFT, "other", provider_message_id="other"), now=NOW, soft_bounce_limit=2)
    assert status(db) == "bounced"


def test_an_unknown_address_is_kept_as_unmatched(db: Store) -> None:
    outcome = record_feedback(db, event(HARD, email="nobody@example.org"), now=NOW)
    assert outcome.result is FeedbackResult.UNMATCHED
    assert record_feedback(db, event(HARD, email="nobody@example.org"), now=NOW).result is FeedbackResult.DUPLICATE


def test_a_pending_subscriber_is_never_activated(db: Store) -> None:
    from newsletter.store.subscribers import request_subscription

    request_subscription(db, "lea@example.org", now=NOW)
    record_feedback(db, event(SOFT), now=NOW)
    assert status(db) == "pending"


@pytest.mark.parametrize("stored, reported", [("<20261124.1@mg.example.org>", "20261124.1@mg.example.org"),
                                              ("pm-123", "pm-123"), ("<brevo@smtp>", "<brevo@smtp>")])
def test_the_ledger_row_is_found_by_provider_message_id(db: Store, stored: str, reported: str) -> None:
    add_subscriber(db, "lea@example.org", now=NOW)
    row = sent_row(db, stored)
    outcome = record_feedback(db, event(HARD, provider_message_id=reported), now=NOW)
    assert outcome.delivery_id == row
    assert [e.kind for e in events_for_send(db, ledger.find_send(db, DAY) or 0)] == ["hard_bounce"]


def test_a_batch_shared_message_id_needs_the_address_to_find_the_row(db: Store) -> None:
    add_subscriber(db, "lea@example.org", now=NOW)
    add_subscriber(db, "tom@example.org", now=NOW)
    sent_row(db, "shared-id")
    outcome = record_feedback(db, event(COMPLAINT, email=None, provider_message_id="shared-id"), now=NOW)
    assert outcome.result is FeedbackResult.UNMATCHED  # two recipients share the id: nobody is guessed
    tom = record_feedback(db, event(COMPLAINT, "t", email="tom@example.org", provider_message_id="shared-id"),
                          now=NOW)
    assert tom.new_status == "complained" and status(db) == "active"


def test_our_own_ids_find_subscriber_and_row_without_the_address(db: Store) -> None:
    lea, _ = add_subscriber(db, "lea@example.org", now=NOW)
    row = sent_row(db, "")
    outcome = record_feedback(db, event(HARD, email=None, subscriber_id=lea.id, issue=DAY), now=NOW)
    assert (outcome.subscriber_id, outcome.delivery_id, outcome.new_status) == (lea.id, row, "bounced")


def test_an_event_before_its_row_is_linked_when_the_row_appears(db: Store) -> None:
    lea, _ = add_subscriber(db, "lea@example.org", now=NOW)
    early = record_feedback(db, event(COMPLAINT, subscriber_id=lea.id, issue=DAY, provider_message_id="x1"), now=NOW)
    assert early.delivery_id is None and status(db) == "complained"
    # The send recorded its row after the webhook came (enqueue skips the complained person: force a row).
    send_id = ledger.get_or_create_send(db, DAY, "Objet", NOW)
    with db.session() as session:
        session.execute(Delivery.__table__.insert().values(  # type: ignore[attr-defined]
            send_id=send_id, subscriber_id=lea.id, email="lea@example.org", status="sent", provider_id="<x1>",
            created_at=NOW, updated_at=NOW))
    assert counts_for_issue(db, DAY) == {"complaint": 1}
    assert [e.source for e in events_for_send(db, send_id)] == ["mailgun"]


def test_an_event_before_its_row_is_linked_by_the_next_event(db: Store) -> None:
    add_subscriber(db, "lea@example.org", now=NOW)
    add_subscriber(db, "tom@example.org", now=NOW)
    record_feedback(db, event(SOFT, "early", provider_message_id="m-lea"), now=NOW)
    send_id = ledger.get_or_create_send(db, DAY, "Objet", NOW)
    ledger.enqueue(db, send_id, NOW)
    with db.session() as session:
        session.execute(update(Delivery).where(Delivery.email == "lea@example.org").values(provider_id="m-lea"))
    record_feedback(db, event(HARD, "tom", email="tom@example.org"), now=NOW)
    with db.session() as session:
        linked = session.scalar(text("select delivery_id from feedback_events where event_id = 'early'"))
        lea_row = session.scalar(select(Delivery.id).where(Delivery.email == "lea@example.org"))
    assert linked == lea_row


def test_a_subscriber_deleted_later_leaves_the_event(db: Store) -> None:
    lea, _ = add_subscriber(db, "lea@example.org", now=NOW)
    record_feedback(db, event(HARD), now=NOW)
    with db.session() as session:
        session.execute(Subscriber.__table__.delete())  # type: ignore[attr-defined]
    with db.session() as session:
        assert session.scalar(text("select count(*) from feedback_events where subscriber_id is null")) == 1


def test_old_unlinked_events_are_left_to_readers_not_retried_at_every_event(db: Store) -> None:
    lea, _ = add_subscriber(db, "lea@example.org", now=NOW)
    add_subscriber(db, "tom@example.org", now=NOW)
    old = NOW - LINK_WINDOW - timedelta(hours=1)
    record_feedback(db, event(SOFT, "old", issue=DAY, subscriber_id=lea.id), now=old)
    sent_row(db, "")
    recent = record_feedback(db, event(SOFT, "new", email="tom@example.org", issue=DAY), now=NOW)
    assert recent.delivery_id is not None  # linked at once: its row exists
    with db.session() as session:
        assert session.scalar(text("select delivery_id from feedback_events where event_id = 'old'")) is None
    assert counts_for_issue(db, DAY) == {"soft_bounce": 2}  # a reader links it


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_an_event_finds_its_row_by_provider_id_through_the_index_in_a_prepared_plan_too(db: Store) -> None:
    """The index holds only rows that have a provider id; the lookup says so in words the planner can
    match in a generic plan too (what the driver's prepared statements get after a few webhooks)."""
    with db.engine.begin() as conn:
        conn.execute(insert(Subscriber.__table__), [  # type: ignore[arg-type]
            {"email": f"p{i}@example.org", "first_name": "", "last_name": "", "status": "active",
             "consent_source": "test", "created_at": NOW, "updated_at": NOW} for i in range(3000)])
    sent_row(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE deliveries SET provider_id = '<m' || id || '@mg.example.org>'"))
        conn.execute(text("ANALYZE deliveries"))
    lookups: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "provider_id IN" in statement:
            lookups.append((statement, parameters))

    sql_event.listen(db.engine, "before_cursor_execute", remember)
    try:
        outcome = record_feedback(db, event(HARD, email="p7@example.org", provider_message_id="m8@mg.example.org"),
                                  now=NOW)
    finally:
        sql_event.remove(db.engine, "before_cursor_execute", remember)
    assert outcome.delivery_id == 8 and lookups
    with db.engine.connect() as conn:
        # On 3,000 rows a scan of the table is as cheap; on a ledger of millions it is a scan per webhook.
        conn.execute(text("SET enable_seqscan = off"))
        plans = [analyzed(conn, *lookup, generic=True) for lookup in lookups]
    assert all(indexes_used(plan, "deliveries") == {"ix_deliveries_provider_id"} for plan in plans)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_0016_gives_old_events_an_empty_reason_and_goes_back(request: pytest.FixtureRequest,
                                                                       tmp_path: Path, kind: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from newsletter.store.database import _alembic_config, migrate
    from tests.helpers.migrations import database_at, revision_before

    before = revision_before("_feedback_reasons.py")
    engine = database_at(request, tmp_path, kind, before)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO feedback_events (source, event_id, kind, occurred_at, received_at, "
                                    "email, provider_message_id, detail, status_change) VALUES ('dsn', 'old', "
                                    "'hard_bounce', :at, :at, '', '', '5.1.1', '')"), {"at": NOW})
        migrate(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT event_id, reason FROM feedback_events")).all() == [("old", "")]
        record_feedback(Store(engine), event(HARD, "new", reason="user unknown"), now=NOW)
        config = _alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, before)
        assert "reason" not in {c["name"] for c in inspect(engine).get_columns("feedback_events")}
    finally:
        engine.dispose()
