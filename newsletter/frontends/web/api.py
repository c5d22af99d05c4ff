"""``/api/v1/``: the HTTP API of ``newsletter serve`` for a CMS, a paywall, a chat bot.

JSON in and out, ``Authorization: Bearer KEY`` (``newsletter api-keys add``): 401 without a
valid key, 403 without the route's scope, limited per key (``[web] api_limit``). Bodies are
validated by the pydantic models of :mod:`newsletter.frontends.web.api_schemas`, which also make
``/api/v1/openapi.json``: what is documented is what is checked. Every change goes through the
same library calls as the command line (``nl.subscribers``), so the same rules hold: an address
is canonicalized, one that left is never reactivated. A list is paged by an opaque cursor sealed
with the secret key (a cursor made by anyone else, or for another filter, is a 400). Every error
is ``{"error": …, "field": …}``, never a page or a traceback. The blueprint is exempt from CSRF
(no cookies: a key in a header), so every route authenticates itself.
"""

from __future__ import annotations

import json
from datetime import date
from functools import wraps
from typing import Any, Callable, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from newsletter.core.tokens import seal, unseal
from newsletter.errors import NewsletterError, UsageError
from newsletter.frontends.web.api_schemas import (MAX_BODY, PAGE_SIZE, STATUSES, ErrorOut, IssueOut, SubscriberIn,
                                                  SubscriberOut, SubscriberPage, SubscriberPatch, openapi_document)
from newsletter.frontends.web.extensions import rate_limited
from newsletter.frontends.web.services import services
from newsletter.library import ApiKey, IssueId, checked_address

PREFIX = "/api/v1"
_CURSOR = "newsletter.api.cursor"
View = TypeVar("View", bound=Callable[..., Any])

bp = Blueprint("api", __name__, url_prefix=PREFIX)


class _Refusal(Exception):  # private to this blueprint: always answered by its error handler
    """An answer other than 2xx, with the field at fault when there is one."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _error(status: int, message: str, field: str | None = None) -> tuple[Response, int]:
    response = jsonify(ErrorOut(error=message, field=field).model_dump())
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="newsletter"'
    return response, status


def _key_name() -> str:
    key: ApiKey | None = g.get("api_key")
    return f"api-key:{key.name}" if key is not None else f"api-anonymous:{request.remote_addr}"


@bp.before_request
def authenticate() -> tuple[Response, int] | None:
    request.max_content_length = MAX_BODY  # a larger body is a 413 before it is read
    if request.path == f"{PREFIX}/openapi.json":
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    key = services().nl.api_keys.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        return _error(401, "a valid API key is needed: send Authorization: Bearer KEY (newsletter api-keys add)")
    g.api_key = key
    return None


def needs(scope: str) -> Callable[[View], View]:
    """Refuse with a 403 a key without ``scope``."""

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            key: ApiKey = g.api_key
            if not key.allows(scope):
                return _error(403, f"this API key lacks the scope {scope}; make one with it "
                                   f"(newsletter api-keys add NAME --scope {scope})")
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


@bp.errorhandler(_Refusal)
def api_error(err: _Refusal) -> tuple[Response, int]:
    return _error(err.status, err.message, err.field)


@bp.errorhandler(HTTPException)
def http_error(err: HTTPException) -> tuple[Response, int]:
    messages = {413: f"the body is larger than {MAX_BODY} bytes", 405: "this method is not allowed here",
                404: "no such API route", 429: "too many requests with this key; wait and retry"}
    return _error(err.code or 400, messages.get(err.code or 400, err.description or "bad request"))


Model = TypeVar("Model", bound=BaseModel)


def _body(model: type[Model]) -> Model:
    """The request's JSON body as ``model``; a 400 naming the field when it is not."""
    if not request.mimetype == "application/json":
        raise _Refusal(415, "send the body as JSON, with Content-Type: application/json")
    try:
        data = json.loads(request.get_data(cache=False))
    except (ValueError, UnicodeDecodeError) as err:
        raise _Refusal(400, f"the body is not valid JSON ({err})") from None
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise _Refusal(422, f"{field or 'body'}: {first['msg']}", field) from None


def _refused(err: NewsletterError, field: str) -> _Refusal:
    """A 422 for a value the library's checks refuse (naming the field they name), a 409 for a refused change."""
    status = 422 if isinstance(err, UsageError) else 409
    field = next((name for name in ("first_name", "last_name", "email") if err.message.startswith(name)), field)
    message = err.message + (f" ({err.hint})" if err.hint else "")
    return _Refusal(status, message, field)


def _address(email: str) -> str:
    try:
        return checked_address(email, "email")
    except NewsletterError as err:
        raise _refused(err, "email") from None


def _subscriber(record: Any) -> dict[str, Any]:
    return SubscriberOut.model_validate(record, from_attributes=True).model_dump(mode="json")


def _cursor(after: str, status: str | None) -> str:
    return seal(services().secret_key, _CURSOR, json.dumps([after, status]).encode())


def _after(cursor: str | None, status: str | None) -> str | None:
    if cursor is None:
        return None
    opened = unseal(services().secret_key, _CURSOR, cursor) if len(cursor) < 2048 else None
    try:
        after, made_for = json.loads(opened) if opened is not None else (None, None)
    except ValueError:
        after = None
    if not isinstance(after, str) or made_for != status:
        raise _Refusal(400, "this cursor is not one this API gave for this list; start again without it", "cursor")
    return after


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.get("/subscribers")
@rate_limited(lambda web: web.api_limit, key=_key_name)
@needs("subscribers:read")
def list_subscribers() -> Response:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise _Refusal(400, f"status must be one of {', '.join(STATUSES)}", "status")
    try:
        limit = int(request.args.get("limit", PAGE_SIZE))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 500:
        raise _Refusal(400, "limit must be a whole number from 1 to 500", "limit")
    after = _after(request.args.get("cursor"), status)
    rows = list(services().nl.subscribers.stream(status=status, after=after, limit=limit + 1))
    page = SubscriberPage(data=[SubscriberOut.model_validate(r, from_attributes=True) for r in rows[:limit]],
                          next_cursor=_cursor(rows[limit - 1].email, status) if len(rows) > limit else None)
    return jsonify(page.model_dump(mode="json"))


@bp.post("/subscribers")
@rate_limited(lambda web: web.api_limit, key=_key_name)
@needs("subscribers:write")
def create_subscriber() -> tuple[Response, int]:
    body = _body(SubscriberIn)
    try:
        change = services().nl.subscribers.add(body.email, first_name=body.first_name, last_name=body.last_name)
    except NewsletterError as err:
        raise _refused(err, "email") from None
    return jsonify(_subscriber(change.record)), 201 if change.created else 200


@bp.get("/subscribers/<path:email>")
@rate_limited(lambda web: web.api_limit, key=_key_name)
@needs("subscribers:read")
def read_subscriber(email: str) -> Response:
    record = services().nl.subscribers.get(_address(email))
    if record is None:
        raise _Refusal(404, "no subscriber with this address", "email")
    return jsonify(_subscriber(record))


@bp.patch("/subscribers/<path:email>")
@rate_limited(lambda web: web.api_limit, key=_key_name)
@needs("subscribers:write")
def update_subscriber(email: str) -> Response:
    address = _address(email)
    body = _body(SubscriberPatch)
    nl = services().nl
    if nl.subscribers.get(address) is None:
        raise _Refusal(404, "no subscriber with this address", "email")
    try:
        record = nl.subscribers.rename(address, first_name=body.first_name, last_name=body.last_name)
    except NewsletterError as err:
        raise _refused(err, "email") from None
    return jsonify(_subscriber(record))


@bp.delete("/subscribers/<path:email>")
@rate_limited(lambda web: web.api_limit, key=_key_name)
@needs("subscribers:write")
def delete_subscriber(email: str) -> Response:
    address = _address(email)
    nl = services().nl
    if nl.subscribers.get(address) is None:
        raise _Refusal(404, "no subscriber with this address", "email")
    return jsonify(_subscriber(nl.subscribers.remove(address).record))


@bp.get("/issues/<issue>")
@rate_limited(lambda web: web.api_limit, key=_key_name)
@needs("issues:read")
def issue_status(issue: str) -> Response:
    try:
        day = IssueId.parse(issue)
    except UsageError:
        raise _Refusal(400, "the issue is its date, YYYY-MM-DD, e.g. 2026-12-07, or a special edition's id, "
                            "e.g. 2026-12-07-speciale", "issue") from None
    status = services().nl.status(day, uncertain=0).to_dict()
    return jsonify(IssueOut.model_validate({k: status[k] for k in IssueOut.model_fields}).model_dump(mode="json"))
