"""The page each send published, on real SQLite and PostgreSQL: the first run whose messages went out
keeps it (later runs do not write over it), only a deliberate correction replaces it, and the archive
lists, opens and answers the images of what was sent."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from newsletter.content.publication import Image
from newsletter.render.web_version import PublicPage
from newsletter.store import ledger
from newsletter.store.archive import first_sent_at, image, logo, page_layout, publication, published, save_page
from newsletter.store.database import Store
from newsletter.store.models import Delivery, DeliveryStatus
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n"


def page(subject: str, *images: Image) -> PublicPage:
    layout = json.dumps({"version": 1, "html": f"<title>{subject}</title>", "entries": []})
    return PublicPage(subject, layout, hashlib.sha256(layout.encode()).hexdigest(), images)


def png(relative: str, tail: bytes) -> Image:
    return Image(relative, PNG + tail, "png")


def brand_logo(tail: bytes) -> Image:
    """A logo as a page keeps it: under ``brand/`` and its content-hashed name."""
    return png("brand/" + png("", tail).name, tail)


def started(store: Store) -> int:
    """A send of DAY to one subscriber, nothing handed over yet."""
    add_subscriber(store, "camille@example.org", now=NOW)
    send_id = ledger.get_or_create_send(store, DAY, "Objet du premier départ", NOW)
    ledger.enqueue(store, send_id, NOW)
    return send_id


def mark(store: Store, status: DeliveryStatus, sent_at: datetime | None = None) -> None:
    with store.session() as session:
        session.execute(update(Delivery).values(status=status.value, sent_at=sent_at))


def test_the_first_page_that_went_out_stays_until_a_correction(db: Store) -> None:
    send_id = started(db)
    first = page("Premier", png("images/barres.png", b"sent"), brand_logo(b"logo"))
    assert save_page(db, send_id, first, NOW)
    mark(db, DeliveryStatus.SENDING)  # handed over: it may have reached its reader
    edited = page("Modifié", png("images/barres.png", b"edited"))
    assert not save_page(db, send_id, edited, NOW + timedelta(hours=1))  # a later run of the send
    assert page_layout(db, send_id) == first.layout
    kept = image(db, DAY, relative="images/barres.png")
    assert kept is not None and kept.data == PNG + b"sent"
    corrected = page("Corrigé", png("images/barres.png", b"corrected"))
    assert save_page(db, send_id, corrected, NOW + timedelta(hours=2), replace=True)
    assert page_layout(db, send_id) == corrected.layout
    now_shown = image(db, DAY, name=corrected.images[0].name)
    assert now_shown is not None and now_shown.data == PNG + b"corrected"
    assert image(db, DAY, name=first.images[0].name) is None  # the correction's images only
    assert logo(db, first.images[1].relative) is None


def test_a_start_whose_messages_all_failed_gives_way_to_the_next(db: Store) -> None:
    send_id = started(db)
    assert save_page(db, send_id, page("Jamais reçu"), NOW)
    mark(db, DeliveryStatus.FAILED)
    again = page("Reçu")
    assert save_page(db, send_id, again, NOW + timedelta(hours=1))
    assert page_layout(db, send_id) == again.layout


def test_the_archive_lists_and_opens_what_went_out(db: Store) -> None:
    send_id = started(db)
    sent = page("Premier", png("images/barres.png", b"sent"), brand_logo(b"logo"))
    save_page(db, send_id, sent, NOW)
    assert publication(db, DAY) is None and published(db) == [] and first_sent_at(db, DAY) is None
    mark(db, DeliveryStatus.SENT, NOW + timedelta(minutes=3))
    (listed,) = published(db)
    assert (listed.day, listed.subject, listed.send_id, listed.page) == (DAY, "Premier", send_id, sent.digest)
    assert listed.sent_at == first_sent_at(db, DAY) == NOW + timedelta(minutes=3)
    found = publication(db, DAY)
    assert found is not None and (found.send_id, found.page) == (send_id, sent.digest)
    by_name = image(db, DAY, name=sent.images[0].name)
    assert by_name is not None and by_name.data == PNG + b"sent" and by_name.media_type == "image/png"
    assert type(by_name.data) is bytes  # what the web answer is made of, on PostgreSQL too
    assert image(db, DAY + timedelta(days=1), name=sent.images[0].name) is None
    assert image(db, DAY, relative="images/barres.png\x00.png") is None  # never a question for PostgreSQL
    brand = logo(db, sent.images[1].relative)
    assert brand is not None and brand.data == PNG + b"logo"


def test_a_send_from_before_pages_were_kept_lists_under_its_own_subject(db: Store) -> None:
    send_id = started(db)
    mark(db, DeliveryStatus.SENT, NOW)
    (listed,) = published(db)
    assert (listed.subject, listed.page) == ("Objet du premier départ", "")
    found = publication(db, DAY)
    assert found is not None and (found.send_id, found.page) == (send_id, "")
