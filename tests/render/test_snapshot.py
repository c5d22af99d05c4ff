"""The render a send was started with, stored for workers: a worker that thaws it builds the very
messages the starting run builds, byte for byte, whatever the issue's files say on its host."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from newsletter.config import Settings
from newsletter.content.load import load_issue
from newsletter.errors import NewsletterError
from newsletter.render.mime import MessageFactory, Recipient
from newsletter.render.pipeline import render_issue
from newsletter.render.snapshot import freeze, thaw
from tests.conftest import DAY, SECRET

STARTED = datetime(2026, 11, 24, 6, 0, 7, tzinfo=timezone.utc)
PEOPLE = [Recipient("camille@example.org", "Camille", "Martin", 7), Recipient("léa@exemple.fr", "Léa", "", 8),
          Recipient("zoe@example.org", 'Zoé "Z" <x>', "Dupont", 9)]


def test_a_thawed_render_builds_the_same_bytes_as_the_starting_run(settings: Settings) -> None:
    rendered = render_issue(load_issue(settings.issues_dir, DAY, 5).issue, settings)
    starting = MessageFactory(rendered, settings, secret_key=SECRET, date=STARTED)
    frozen = freeze(rendered, STARTED)
    thawed, sent_on = thaw(frozen.text)
    worker = MessageFactory(thawed, settings, secret_key=SECRET, date=sent_on)
    assert sent_on == STARTED and worker.layout == starting.layout
    for person in PEOPLE:
        assert worker.build(person).data == starting.build(person).data
    assert freeze(thawed, sent_on) == frozen  # one render, one digest


def test_a_snapshot_from_another_version_is_refused(settings: Settings) -> None:
    rendered = render_issue(load_issue(settings.issues_dir, DAY, 5).issue, settings)
    body = json.loads(freeze(rendered, STARTED).text)
    body["version"] = 99
    with pytest.raises(NewsletterError, match="another version of newsletter"):
        thaw(json.dumps(body))
