"""What readers choose and what they are owed: their frequency and pause, their welcome (once), all
the store holds about them (RGPD art. 15) and its erasure (art. 17).

The welcome has its own small ledger (``welcome_mails``): the row is claimed, in state ``sending``,
in the statement that checks that none exists, before the transport takes the message; a second
confirmation finds the row and sends nothing, and a crash between the claim and the outcome leaves
the row ``sending`` (in doubt: never sent again, as the send ledger does for SMTP).

An erasure deletes the subscriber and every row naming them in one transaction: their feedback
events go, their send-ledger and welcome rows stay without the person (no subscriber, no address)
so that every count stays right, and the address survives only as a keyed hash in
``suppressions`` (the library computes it; the store never sees the key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, cast

from sqlalchemy import CursorResult, Table, and_, delete, func, or_, select, update

from newsletter.core.issue_id import WEEKLY_SLUG, IssueId, edition_of
from newsletter.store.database import Store
from newsletter.store.models import (Delivery, DeliveryStatus, Frequency, Send, Subscriber, SubscriberStatus,
                                     Suppression, WelcomeMail)

_S = cast(Table, Subscriber.__table__)
_D = cast(Table, Delivery.__table__)
_SENDS = cast(Table, Send.__table__)
_W = cast(Table, WelcomeMail.__table__)
_X = cast(Table, Suppression.__table__)
ACTIVE = SubscriberStatus.ACTIVE.value
#: The reason a suppression is kept (the only one so far).
REASON_ERASED = "erased"
#: The welcome ledger's states.
WELCOME_SENDING, WELCOME_SENT, WELCOME_FAILED = "sending", "sent", "failed"


def receives(issue: date | None, now: datetime) -> Any:
    """The condition on subscribers that the issue goes to at ``now``: active, not paused, and weekly readers
    for the weekly roundup (``DATE-hebdo``), daily ones for any other issue (the daily, a special edition)."""
    weekly = issue is not None and edition_of(issue) == WEEKLY_SLUG
    return and_(_S.c.status == ACTIVE, _S.c.frequency == (Frequency.WEEKLY if weekly else Frequency.DAILY).value,
                or_(_S.c.paused_until.is_(None), _S.c.paused_until <= now))


@dataclass(frozen=True)
class Skipped:
    """Active readers a daily issue leaves out at a time: those who chose the weekly, those paused."""

    weekly: int
    paused: int


def skipped_readers(store: Store, now: datetime) -> Skipped:
    """How many active readers a daily send at ``now`` skips, and why (a paused weekly reader counts as weekly)."""
    weekly = and_(_S.c.status == ACTIVE, _S.c.frequency == Frequency.WEEKLY.value)
    paused = and_(_S.c.status == ACTIVE, _S.c.frequency != Frequency.WEEKLY.value, _S.c.paused_until > now)
    with store.engine.connect() as conn:
        row = conn.execute(select(func.count().filter(weekly), func.count().filter(paused)).select_from(_S)).one()
    return Skipped(int(row[0] or 0), int(row[1] or 0))


# -- preferences ----------------------------------------------------------------------------------

def set_preferences(store: Store, email: str, *, now: datetime, frequency: str | None = None,
                    paused_until: datetime | None = None, resume: bool = False) -> bool:
    """Record a reader's choice: a frequency, a pause until ``paused_until``, or (``resume``) no pause.

    :return: whether the address is in the list (nothing is written otherwise).
    """
    values: dict[str, Any] = {"updated_at": now}
    if frequency is not None:
        values["frequency"] = frequency
    if paused_until is not None:
        values["paused_until"] = paused_until
    elif resume:
        values["paused_until"] = None
    with store.transaction() as conn:
        result = cast(CursorResult[Any], conn.execute(update(_S).where(_S.c.email == email).values(**values)))
        return bool(result.rowcount)


# -- the welcome ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class WelcomeClaim:
    """A welcome this process now owns: send it, then :func:`settle_welcome`."""

    subscriber_id: int
    email: str
    first_name: str
    last_name: str


def claim_welcome(store: Store, email: str, *, now: datetime) -> WelcomeClaim | None:
    """Claim the welcome of the active subscriber ``email``: None when they are not active, or a welcome
    was claimed for them already (by a second confirmation, another process, or a run that died)."""
    with store.transaction() as conn:
        person = conn.execute(select(_S.c.id, _S.c.email, _S.c.first_name, _S.c.last_name)
                              .where(_S.c.email == email, _S.c.status == ACTIVE)).first()
        if person is None:
            return None
        statement = store.insert(_W).values(subscriber_id=person.id, state=WELCOME_SENDING, created_at=now,
                                            updated_at=now).on_conflict_do_nothing(index_elements=["subscriber_id"])
        result = cast(CursorResult[Any], conn.execute(statement.execution_options(preserve_rowcount=True)))
        if not result.rowcount:
            return None
    return WelcomeClaim(person.id, person.email, person.first_name, person.last_name)


def settle_welcome(store: Store, subscriber_id: int, *, now: datetime, error: str = "") -> None:
    """Write the outcome of a claimed welcome: sent, or failed with ``error`` (it is not tried again)."""
    state = WELCOME_FAILED if error else WELCOME_SENT
    with store.transaction() as conn:
        conn.execute(update(_W).where(_W.c.subscriber_id == subscriber_id)
                     .values(state=state, error=error[:500], updated_at=now))


# -- suppressions of erased addresses -------------------------------------------------------------

def erased_among(store: Store | None, digests: Iterable[str], *, conn: Any = None) -> set[str]:
    """Which of ``digests`` (keyed hashes of addresses) belong to erased readers (on ``conn`` when given,
    inside its transaction, else on a connection of ``store``)."""
    wanted = list(set(digests))
    if not wanted:
        return set()
    query = select(_X.c.digest).where(_X.c.digest.in_(wanted))
    if conn is not None or store is None:
        return set(conn.scalars(query))
    with store.engine.connect() as own:
        return set(own.scalars(query))


def any_erased(store: Store) -> bool:
    """Whether any erased address is remembered (when none is, nothing needs the secret key to check one)."""
    with store.engine.connect() as conn:
        return conn.execute(select(_X.c.digest).limit(1)).first() is not None


def lift_suppression(store: Store, digest: str) -> None:
    """Forget an erased address's hash: its owner subscribed again through the form's double opt-in."""
    with store.transaction() as conn:
        conn.execute(delete(_X).where(_X.c.digest == digest))


# -- the reader's data, and its erasure -----------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _events() -> Table:
    """The feedback events' table, loaded by the reader's data and its erasure only: the ledger needs this
    module's :func:`receives`, and a send loads neither the feedback's tables nor the corrections'."""
    from newsletter.store.feedback import FeedbackEvent

    return cast(Table, FeedbackEvent.__table__)


def reader_data(store: Store, email: str) -> dict[str, Any] | None:
    """Everything the store holds about the subscriber ``email``, as JSON-ready values (None: unknown)."""
    _E = _events()
    with store.engine.connect() as conn:
        person = conn.execute(select(_S).where(_S.c.email == email)).first()
        if person is None:
            return None
        issues = conn.execute(
            select(_SENDS.c.issue_date, _SENDS.c.edition, _SENDS.c.subject, _D.c.status, _D.c.sent_at, _D.c.attempts, _D.c.last_error)
            .join(_SENDS, _SENDS.c.id == _D.c.send_id).where(_D.c.subscriber_id == person.id)
            .order_by(_SENDS.c.issue_date, _SENDS.c.edition)).all()
        events = conn.execute(
            select(_E.c.kind, _E.c.source, _E.c.occurred_at, _E.c.issue_date, _E.c.edition, _E.c.reason, _E.c.detail,
                   _E.c.status_change)
            .where(or_(_E.c.subscriber_id == person.id, _E.c.email == email)).order_by(_E.c.occurred_at)).all()
        welcome = conn.execute(select(_W.c.state, _W.c.updated_at).where(_W.c.subscriber_id == person.id)).first()
    history = [{"at": _iso(person.created_at), "event": "created", "source": person.consent_source}]
    if person.consent_at is not None:
        history.append({"at": _iso(person.consent_at), "event": "consent", "source": person.consent_source})
    history.extend({"at": _iso(e.occurred_at), "event": e.kind, "change": e.status_change}
                   for e in events if e.status_change)
    if person.unsubscribed_at is not None:
        history.append({"at": _iso(person.unsubscribed_at), "event": "left", "status": person.status})
    return {
        "email": person.email,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "status": person.status,
        "created_at": _iso(person.created_at),
        "updated_at": _iso(person.updated_at),
        "unsubscribed_at": _iso(person.unsubscribed_at),
        "frequency": person.frequency,
        "paused_until": _iso(person.paused_until),
        "consent": {"at": _iso(person.consent_at), "source": person.consent_source, "ip": person.consent_ip},
        "status_history": sorted(history, key=lambda entry: entry["at"] or ""),
        "welcome": {"state": welcome.state, "at": _iso(welcome.updated_at)} if welcome is not None else None,
        "issues": [{"issue": IssueId.stored(row.issue_date, row.edition).isoformat(), "subject": row.subject, "status": row.status,
                    "sent_at": _iso(row.sent_at), "attempts": row.attempts, "error": row.last_error}
                   for row in issues],
        "feedback": [{"kind": e.kind, "source": e.source, "at": _iso(e.occurred_at),
                      "issue": IssueId.stored(e.issue_date, e.edition).isoformat() if e.issue_date else None, "reason": e.reason,
                      "detail": e.detail} for e in events],
    }


def erase_subscriber(store: Store, email: str, digest: str, *, now: datetime) -> bool:
    """Erase the subscriber ``email`` and every row naming them; keep ``digest`` as a suppression.

    In one transaction: feedback events about them are deleted; their ledger rows keep the send's
    counts without subscriber or address (a row not sent yet becomes ``skipped``); their welcome row
    keeps its state without them; the subscriber row goes.

    :return: False when the address is not in the list (nothing erased: a replay, or a stranger).
    """
    from newsletter.store import corrections

    _E = _events()
    with store.transaction() as conn:
        found = conn.execute(select(_S.c.id).where(_S.c.email == email).with_for_update()).first()
        if found is None:
            return False
        person = found.id
        conn.execute(delete(_E).where(or_(_E.c.subscriber_id == person, _E.c.email == email)))
        conn.execute(update(_D).where(_D.c.subscriber_id == person,
                                      _D.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.QUEUED.value]))
                     .values(status=DeliveryStatus.SKIPPED.value, updated_at=now))
        conn.execute(update(_D).where(_D.c.subscriber_id == person)
                     .values(subscriber_id=None, email="", last_error="", provider_id=""))
        conn.execute(update(_W).where(_W.c.subscriber_id == person).values(subscriber_id=None, error=""))
        corrections.erase(conn, person, now)
        conn.execute(delete(_S).where(_S.c.id == person))
        conn.execute(store.insert(_X).values(digest=digest, reason=REASON_ERASED, created_at=now)
                     .on_conflict_do_nothing(index_elements=["digest"]))
    return True
