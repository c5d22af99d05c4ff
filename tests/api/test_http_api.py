"""The HTTP API under the real `serve` (waitress on 127.0.0.1): keys and scopes, subscribers through
the library's rules, cursors, JSON errors naming the field, its OpenAPI document, and fuzzing."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from newsletter import Newsletter
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber, find_subscriber, unsubscribe
from tests.helpers.clock import NOW
from tests.helpers.web import Service, web_settings
from tests.sink import Sink


@pytest.fixture
def service(project: Path, store: Store, sink: Sink) -> Iterator[Service]:
    with Service(web_settings(project, sink), store) as running:
        yield running


def key(store: Store, project: Path, *scopes: str, name: str = "cms") -> str:
    with Newsletter.open(project) as nl:
        return nl.api_keys.add(name, scopes)[1]


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


ALL = ("subscribers:read", "subscribers:write", "issues:read")


def test_without_a_valid_key_401_without_the_scope_403(service: Service, store: Store, project: Path) -> None:
    url = f"{service.url}/api/v1/subscribers"
    answer = requests.get(url)
    assert answer.status_code == 401 and "api-keys add" in answer.json()["error"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(url, headers=auth("nlk_forged")).status_code == 401
    reader = key(store, project, "subscribers:read")
    assert requests.get(url, headers=auth(reader)).status_code == 200
    refused = requests.post(url, json={"email": "lea@example.org"}, headers=auth(reader))
    assert refused.status_code == 403 and "subscribers:write" in refused.json()["error"]
    assert find_subscriber(store, "lea@example.org") is None
    with Newsletter.open(project) as nl:
        nl.api_keys.revoke("cms")
    assert requests.get(url, headers=auth(reader)).status_code == 401
    assert answer.headers["Cache-Control"] == "no-store"


def test_subscribers_create_read_update_delete_through_the_library_rules(service: Service, store: Store,
                                                                         project: Path) -> None:
    headers = auth(key(store, project, *ALL))
    url = f"{service.url}/api/v1/subscribers"
    made = requests.post(url, json={"email": "  Lea@EXAMPLE.org ", "first_name": "Léa"}, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["email"] == "lea@example.org" and made.json()["status"] == "active"
    got = requests.get(f"{url}/lea@example.ORG", headers=headers)
    assert got.status_code == 200 and got.json()["first_name"] == "Léa"
    patched = requests.patch(f"{url}/lea@example.org", json={"last_name": "Martin"}, headers=headers)
    assert patched.status_code == 200 and patched.json()["last_name"] == "Martin"
    assert patched.json()["first_name"] == "Léa"
    gone = requests.delete(f"{url}/lea@example.org", headers=headers)
    assert gone.status_code == 200 and gone.json()["status"] == "unsubscribed"
    back = requests.post(url, json={"email": "lea@example.org"}, headers=headers)
    assert back.status_code == 409 and back.json()["field"] == "email" and "not added back" in back.json()["error"]
    renamed = requests.patch(f"{url}/lea@example.org", json={"first_name": "L"}, headers=headers)
    assert renamed.status_code == 200 and renamed.json()["status"] == "unsubscribed"  # names, never the status


@pytest.mark.parametrize(("body", "content_type", "status", "field"), [
    (b'{"email": ', "application/json", 400, None),
    (b'{"email": "a@example.org", "admin": true}', "application/json", 422, "admin"),
    (b'{"email": 42}', "application/json", 422, "email"),
    (b'{"email": "not an address"}', "application/json", 422, "email"),
    (b'{"email": "a@example.org", "first_name": "x\\ny"}', "application/json", 422, "first_name"),
    (b'["a@example.org"]', "application/json", 422, None),
    (b'email=a@example.org', "application/x-www-form-urlencoded", 415, None),
    (b'{"email": "a@example.org", "first_name": "' + b"x" * 20000 + b'"}', "application/json", 413, None),
])
def test_bad_bodies_are_a_clear_4xx_naming_the_field_and_change_nothing(
        service: Service, store: Store, project: Path, body: bytes, content_type: str, status: int,
        field: str | None) -> None:
    headers = {**auth(key(store, project, *ALL)), "Content-Type": content_type}
    answer = requests.post(f"{service.url}/api/v1/subscribers", data=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] and answer.json().get("field") == field
    with Newsletter.open(project) as nl:
        assert nl.subscribers.count() == 0


def test_the_list_is_paged_by_a_sealed_cursor_and_filtered_by_status(service: Service, store: Store,
                                                                     project: Path) -> None:
    headers = auth(key(store, project, "subscribers:read"))
    for n in range(7):
        add_subscriber(store, f"r{n}@example.org", now=NOW)
    unsubscribe(store, "r3@example.org", now=NOW)
    url = f"{service.url}/api/v1/subscribers"
    seen, cursor = [], None
    for _ in range(10):
        page = requests.get(url, params={"limit": 2, "status": "active", **({"cursor": cursor} if cursor else {})},
                            headers=headers).json()
        seen += [s["email"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"r{n}@example.org" for n in (0, 1, 2, 4, 5, 6)]
    first = requests.get(url, params={"limit": 2, "status": "active"}, headers=headers).json()["next_cursor"]
    for bad in ("r1@example.org", first[:-2] + "AA", "x" * 5000):
        answer = requests.get(url, params={"limit": 2, "status": "active", "cursor": bad}, headers=headers)
        assert answer.status_code == 400 and answer.json()["field"] == "cursor"
    other_filter = requests.get(url, params={"limit": 2, "cursor": first}, headers=headers)
    assert other_filter.status_code == 400 and other_filter.json()["field"] == "cursor"
    for params, field in (({"status": "gone"}, "status"), ({"limit": "ten"}, "limit"), ({"limit": 0}, "limit")):
        answer = requests.get(url, params=params, headers=headers)
        assert answer.status_code == 400 and answer.json()["field"] == field


def test_issue_status_has_the_counts_of_status_json(service: Service, store: Store, project: Path) -> None:
    headers = auth(key(store, project, "issues:read"))
    answer = requests.get(f"{service.url}/api/v1/issues/2026-11-24", headers=headers)
    assert answer.status_code == 200 and answer.json()["date"] == "2026-11-24" and answer.json()["counts"] == {}
    bad = requests.get(f"{service.url}/api/v1/issues/yesterday", headers=headers)
    assert bad.status_code == 400 and bad.json()["field"] == "issue"
    assert requests.get(f"{service.url}/api/v1/subscribers", headers=headers).status_code == 403


def test_the_rate_limit_is_per_key(project: Path, store: Store, sink: Sink) -> None:
    with Service(web_settings(project, sink, api_limit="3 per hour"), store) as service:
        one, two = key(store, project, "issues:read", name="one"), key(store, project, "issues:read", name="two")
        url = f"{service.url}/api/v1/issues/2026-11-24"
        assert [requests.get(url, headers=auth(one)).status_code for _ in range(4)] == [200, 200, 200, 429]
        assert requests.get(url, headers=auth(two)).status_code == 200


def test_the_openapi_document_is_valid_openapi_3_1(service: Service) -> None:
    from openapi_spec_validator import validate

    document = requests.get(f"{service.url}/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert set(document["components"]["schemas"]["SubscriberPatch"]["properties"]) == {"first_name", "last_name"}
    assert document["components"]["schemas"]["SubscriberIn"]["additionalProperties"] is False


def test_the_live_api_fuzzed_from_its_document_never_fails_and_answers_as_documented(
        service: Service, store: Store, project: Path) -> None:
    """Schemathesis generates requests from /api/v1/openapi.json (bounded, derandomized: the same cases
    every run) and checks each answer: no 5xx, status, content type and body as the document says."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

    headers = auth(key(store, project, *ALL))
    for n in range(3):
        add_subscriber(store, f"r{n}@example.org", now=NOW)
    schema = schemathesis.openapi.from_dict(requests.get(f"{service.url}/api/v1/openapi.json").json())
    base = f"{service.url}/api/v1"
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=25, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            answer = case.call(base_url=base, headers=headers)
            assert answer.status_code < 500, (case.method, case.formatted_path, answer.text)
            # Refusals the document cannot express: a cursor is opaque (any string fits it, only the API's own
            # are accepted), and "format: email" admits addresses email-validator refuses (a reserved domain such
            # as .test, a domain label of digits): those are a 422 naming the field, never a 5xx.
            forged_cursor = bool(case.query and "cursor" in case.query)
            reserved = answer.status_code == 422 and answer.json().get("field") == "email"
            case.validate_response(answer, excluded_checks=[
                ignored_auth, *([positive_data_acceptance] if forged_cursor or reserved else [])])

        call()
        checked += 1
    assert checked == 7
