"""The HTTP API's schemas: the pydantic models its handlers validate with, and the OpenAPI 3.1
document made from them (``GET /api/v1/openapi.json``).

Request models forbid unknown fields and are validated strictly (a number is not a string). A
new field of a subscriber's update is one line of :class:`SubscriberPatch` (and, for what it
sets, one argument of the library call): the document follows.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

#: The largest request body the API reads (a 413 beyond).
MAX_BODY = 8 * 1024
PAGE_SIZE = 100
STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
#: One line of text: what the library's name check accepts (no control character, no line break).
ONE_LINE = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"
Name = Field(default=None, max_length=200, pattern=ONE_LINE, description="Shown in the greeting; one line.")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SubscriberIn(_Request):
    """A subscriber to add (active at once: the caller answers for the consent), or whose names to update."""

    email: str = Field(max_length=320, json_schema_extra={"format": "email"},
                       description="Canonicalized; one who left is refused (409).")
    first_name: str = Field(default="", max_length=200, pattern=ONE_LINE)
    last_name: str = Field(default="", max_length=200, pattern=ONE_LINE)


class SubscriberPatch(_Request):
    """The fields to change; absent ones stay as they are. Never the status: use DELETE to unsubscribe."""

    first_name: str | None = Name
    last_name: str | None = Name


class SubscriberOut(BaseModel):
    email: str
    first_name: str
    last_name: str
    status: Literal["pending", "active", "unsubscribed", "bounced", "complained"]
    created_at: datetime
    consent_at: datetime | None
    unsubscribed_at: datetime | None


class SubscriberPage(BaseModel):
    data: list[SubscriberOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last one.")


class Problem(BaseModel):
    status: str
    reason: str
    count: int


class IssueOut(BaseModel):
    """Where a send stands, as ``newsletter status --json`` says it."""

    date: str
    started: bool
    counts: dict[str, int]
    started_at: str | None
    finished_at: str | None
    problems: list[Problem]
    paused: dict[str, Any] | None


class ErrorOut(BaseModel):
    error: str
    field: str | None = Field(default=None, description="The field, parameter or path part at fault.")


_MODELS = (SubscriberIn, SubscriberPatch, SubscriberOut, SubscriberPage, IssueOut, ErrorOut)


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _answer(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "Bad parameter or cursor", 401: "No valid API key", 403: "The key lacks the scope",
             404: "Not found", 409: "The address left the list and is not added back",
             413: "Body too large", 415: "Body not JSON", 422: "A field is invalid", 429: "Too many requests"}
    return {str(code): _answer(words[code], ErrorOut) for code in (401, 403, 429, *codes)}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


_EMAIL = {"name": "email", "in": "path", "required": True,
          "schema": {"type": "string", "format": "email", "maxLength": 320}}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``/api/v1/``, from the models above."""
    _, schemas = models_json_schema([(m, "validation" if m.__name__.endswith(("In", "Patch")) else "serialization")
                                     for m in _MODELS], ref_template="#/components/schemas/{model}")
    key: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "newsletter", "version": "1",
                 "description": "Subscribers and send status. Authorization: Bearer KEY (newsletter api-keys add)."},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": schemas["$defs"],
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": key,
        "paths": {
            "/subscribers": {
                "get": {"operationId": "listSubscribers", "summary": "Subscribers in address order (subscribers:read)",
                        "parameters": [
                            {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
                            {"name": "limit", "in": "query",
                             "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": PAGE_SIZE}},
                            {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
                        "responses": {"200": _answer("A page", SubscriberPage), **_errors(400)}},
                "post": {"operationId": "createSubscriber", "summary": "Add an active subscriber (subscribers:write)",
                         "requestBody": _body(SubscriberIn),
                         "responses": {"201": _answer("Added", SubscriberOut),
                                       "200": _answer("Already there: names updated", SubscriberOut),
                                       **_errors(400, 409, 413, 415, 422)}},
            },
            "/subscribers/{email}": {
                "parameters": [_EMAIL],
                "get": {"operationId": "readSubscriber", "summary": "One subscriber (subscribers:read)",
                        "responses": {"200": _answer("The subscriber", SubscriberOut), **_errors(404, 422)}},
                "patch": {"operationId": "updateSubscriber", "summary": "Change names (subscribers:write)",
                          "requestBody": _body(SubscriberPatch),
                          "responses": {"200": _answer("Updated", SubscriberOut),
                                        **_errors(400, 404, 409, 413, 415, 422)}},
                "delete": {"operationId": "unsubscribe", "summary": "Unsubscribe; the record stays (subscribers:write)",
                           "responses": {"200": _answer("Unsubscribed", SubscriberOut), **_errors(404, 422)}},
            },
            "/issues/{issue}": {
                "get": {"operationId": "issueStatus", "summary": "Where a send stands (issues:read)",
                        "parameters": [{"name": "issue", "in": "path", "required": True,
                                        "schema": {"type": "string", "format": "date",
                                                   "examples": ["2026-12-07"]}}],
                        "responses": {"200": _answer("Counts as status --json", IssueOut), **_errors(400)}},
            },
            "/openapi.json": {
                "get": {"operationId": "openapi", "summary": "This document", "security": [],
                        "responses": {"200": {"description": "OpenAPI 3.1",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}}},
            },
        },
    }
