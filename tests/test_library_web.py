"""The library's operations for the web front ends (newsletter/library/web.py), called as the web
service calls them: plain values in, typed results out, on a real project and a real store."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter import Newsletter
from newsletter.library import Health, PreviewBuild, WebhookAnswer, preview_build, preview_image
from newsletter.content.publication import proof_key
from newsletter.core.tokens import UNSUBSCRIBE, make_token
from tests.helpers.french import typeset
from tests.conftest import DAY, SECRET

NOW = datetime(2026, 11, 24, 5, 0, tzinfo=timezone.utc)


@pytest.fixture
def nl(project: Path):  # type: ignore[no-untyped-def]
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=lambda: NOW) as opened:
        yield opened


def test_a_subscription_is_requested_confirmed_and_left_by_token(nl: Newsletter) -> None:
    subs = nl.subscriptions
    assert subs.status("lea@example.org") is None and not subs.awaits_confirmation("lea@example.org")
    subs.request("lea@example.org", first_name="Léa")
    assert subs.awaits_confirmation("lea@example.org") and subs.status("lea@example.org") != "active"
    assert subs.confirm("lea@example.org", link="link", issued_at=NOW)
    assert subs.status("lea@example.org") == "active" and not subs.awaits_confirmation("lea@example.org")
    token = make_token(SECRET, UNSUBSCRIBE, "lea@example.org")
    assert subs.unsubscribe_by_token(token[:-2] + "xx") is None and not subs.is_unsubscribed("lea@example.org")
    assert subs.unsubscribe_by_token(token) == "lea@example.org" and subs.is_unsubscribed("lea@example.org")
    assert subs.unsubscribe_by_token(token) == "lea@example.org"  # again, or unknown: the same answer


@pytest.mark.parametrize("kind", ["hard_bounce", "complaint", "unsubscribe"])
def test_a_confirmation_link_never_outranks_a_later_bounce_complaint_or_unsubscribe(project: Path, kind: str) -> None:
    from datetime import timedelta

    from newsletter.store.feedback import Feedback, FeedbackKind, record_feedback

    clock = [NOW]
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=lambda: clock[0]) as nl:
        subs = nl.subscriptions
        subs.request("lea@example.org")
        mailed = NOW  # the confirmation link is made now, then the address bounces, complains or leaves
        clock[0] = NOW + timedelta(hours=1)
        record_feedback(nl.store, Feedback(FeedbackKind(kind), "test", "e1", clock[0], email="lea@example.org"),
                        now=clock[0])
        left = subs.status("lea@example.org")
        assert left in ("bounced", "complained", "unsubscribed")
        clock[0] = NOW + timedelta(hours=2)
        assert not subs.confirm("lea@example.org", link="the-link", issued_at=mailed)
        assert subs.status("lea@example.org") == left
        # A link made after it (the person asked again through the form) is the way back, once.
        assert subs.confirm("lea@example.org", link="a-new-link", issued_at=clock[0])
        assert subs.status("lea@example.org") == "active"
        subs.unsubscribe_by_token(make_token(SECRET, UNSUBSCRIBE, "lea@example.org"))
        clock[0] += timedelta(minutes=1)
        assert not subs.confirm("lea@example.org", link="a-new-link", issued_at=NOW + timedelta(hours=3))
        assert subs.status("lea@example.org") == "unsubscribed"


def test_the_archive_shows_an_issue_once_sent_and_before_only_with_the_proof_key(nl: Newsletter) -> None:
    archive = nl.archive
    assert archive.published() == [] and not archive.is_published(DAY) and nl.archive is archive
    assert archive.is_proof_key(DAY, proof_key(SECRET, DAY)) and not archive.is_proof_key(DAY, "0" * 16)
    assert not archive.is_proof_key(DAY, "")
    nl.subscribers.add("camille@example.org")
    nl.approve(DAY, by="Camille Martin")
    nl.send(DAY)
    [issue] = archive.published()
    assert issue.day == DAY and archive.is_published(DAY) and issue.sent_at == NOW
    page = archive.web_page(DAY)
    assert page is not None and issue.subject in page
    assert f"/archive/{DAY.isoformat()}/".encode() in archive.feed()
    assert archive.image(DAY, "../newsletter.toml") is None and archive.hashed_image(DAY, "0" * 32 + ".png") is None
    assert archive.image(DAY, "images/barres.png\0.png") is None  # a NUL byte is refused, never a ValueError


def test_the_health_check_answers_with_a_result(nl: Newsletter) -> None:
    assert nl.health() == Health(True, "ok")


def test_without_webhooks_no_provider_is_served(nl: Newsletter) -> None:
    intake = nl.webhooks
    assert intake.providers == frozenset()
    assert intake.receive("mailgun", {}, b"{}") == WebhookAnswer(404, {"error": "no such webhook"})


def test_the_preview_build_reports_a_broken_configuration_instead_of_raising(project: Path) -> None:
    built = preview_build(project, DAY, asset_base="/assets/")
    assert isinstance(built, PreviewBuild) and built.rendered and built.html and built.text
    assert built.locale == "fr_FR" and not built.error
    assert preview_image(project, DAY, "../../newsletter.toml") is None
    (project / "newsletter.toml").write_text("[newsletter\n", encoding="utf-8")
    broken = preview_build(project, DAY, asset_base="/assets/")
    assert broken.locale is None and "newsletter.toml" in broken.error and not broken.rendered


@pytest.mark.parametrize(("locale", "said", "not_said"), [
    ("fr_FR", typeset("01-bots.md:2 : « title » compte 122 caractères ; ne dépassez pas 100"), "has 122 characters"),
    ("en_GB", "01-bots.md:2: 'title' has 122 characters; keep it to 100 or fewer", "compte 122"),
])
def test_the_preview_says_the_problems_in_the_newsletters_language(project: Path, locale: str, said: str,
                                                                   not_said: str) -> None:
    import re

    from tests.helpers.locales import set_locale

    set_locale(project, locale)
    item = project / "issues" / DAY.isoformat() / "01-bots.md"
    item.write_text(re.sub(r'title: ".*"', 'title: "' + "Long titre " * 11 + 'x"', item.read_text(encoding="utf-8"),
                           count=1), encoding="utf-8")
    texts = [p.text for p in preview_build(project, DAY, asset_base="/assets/").problems]
    assert any(said in text for text in texts) and not any(not_said in text for text in texts), texts


def test_tomorrows_issue_sent_today_waits_for_its_date_in_the_archive_and_the_feed(project: Path) -> None:
    """Sent by hand the day before, the issue is not listed until its date begins in the newsletter's time
    zone (Europe/Paris: 23:00 UTC on the 23rd is already the 24th there); the readers' link opens it."""
    clock = [datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)]
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=lambda: clock[0]) as nl:
        nl.subscribers.add("camille@example.org")
        nl.approve(DAY, by="Camille Martin")
        nl.send(DAY)
        address = f"/archive/{DAY.isoformat()}/".encode()
        assert nl.archive.published() == [] and address not in nl.archive.feed()
        assert nl.archive.web_page(DAY) is not None  # the email's "read on the web" link works
        clock[0] = datetime(2026, 11, 23, 22, 59, tzinfo=timezone.utc)
        assert nl.archive.published() == []
        clock[0] = datetime(2026, 11, 23, 23, 0, tzinfo=timezone.utc)
        [issue] = nl.archive.published()
        assert issue.day == DAY and address in nl.archive.feed()
