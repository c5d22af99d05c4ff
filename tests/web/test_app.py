"""The application factory: every route in a blueprint, services in one place, rate limits per application."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from flask import Blueprint

from newsletter import Newsletter
from newsletter.store.database import Store
from newsletter.frontends.web import app as factory
from newsletter.frontends.web.services import services
from tests.conftest import SECRET
from tests.sink import Sink
from tests.helpers.web import Service, mail_queue, subscribe, web_settings


def test_every_route_belongs_to_one_of_the_blueprints(project: Path, store: Store, sink: Sink) -> None:
    app = factory.create_app(Newsletter(web_settings(project, sink), store=store, secret_key=SECRET))
    assert {"unsubscribe", "subscribe", "archive", "health"} <= set(app.blueprints)
    outside = [rule.rule for rule in app.url_map.iter_rules()
               if rule.endpoint != "static" and rule.endpoint.split(".")[0] not in app.blueprints]
    assert outside == []


@pytest.mark.parametrize("made_from_the_services", [False, True])
def test_one_more_blueprint_is_one_more_entry_and_reads_the_services(project: Path, store: Store, sink: Sink,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     made_from_the_services: bool) -> None:
    def make(prefix: str) -> Blueprint:
        extra = Blueprint("extra", __name__)

        @extra.get("/extra")
        def name() -> str:
            return prefix + services().settings.newsletter.name

        return extra

    entry = (lambda run: make(run.settings.newsletter.sender_name + ": ")) if made_from_the_services else make("")
    monkeypatch.setattr(factory, "BLUEPRINTS", (*factory.BLUEPRINTS, entry))
    with Service(web_settings(project, sink), store) as service:
        answer = requests.get(f"{service.url}/extra")
    expected = ("La rédaction: " if made_from_the_services else "") + "5 infos relation client"
    assert answer.status_code == 200 and answer.text == expected


def test_each_application_counts_its_own_rate_limits(project: Path, store: Store, sink: Sink) -> None:
    settings = web_settings(project, sink, subscribe_limit="1 per minute")
    with Service(settings, store) as first, Service(settings, store) as second:
        codes = [subscribe(requests.Session(), first.url, f"a{i}@example.org").status_code for i in range(2)]
        assert codes == [200, 429]
        assert subscribe(requests.Session(), second.url, "b@example.org").status_code == 200
        for service in (first, second):
            mail_queue(service).join()  # the confirmation mails go out while the sink still listens
