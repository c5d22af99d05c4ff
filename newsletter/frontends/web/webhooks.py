"""``POST /webhooks/<provider>``: the mail APIs' bounce, complaint and unsubscribe events, into the store.

Only the providers with a secret named in ``[webhooks]`` have an endpoint; the secrets are read
from the environment when the service starts (a missing one stops it with the variable's
name). The library (``Newsletter.webhooks``) authenticates each request the provider's way
before anything is read from it, records its events and says what to answer: a 4xx, changing
nothing, when it is forged, replayed, stale or malformed; a 2xx for events of a type this code
does not know (logged), so that the provider does not retry them for days. A body over
``[webhooks] max_body_bytes`` gets a 413 here, unread. The blueprint is exempt from CSRF
(providers have no session), so every route here must authenticate itself.
"""

from __future__ import annotations

from typing import Mapping, cast

from flask import Blueprint, Response, jsonify, request

from newsletter.library import Webhooks


def webhooks_blueprint(intake: Webhooks) -> Blueprint:
    """The webhook endpoints of the providers ``intake`` serves (none without ``[webhooks]``)."""
    blueprint = Blueprint("webhooks", __name__)

    @blueprint.before_request
    def bound_the_body() -> None:
        request.max_content_length = intake.max_body_bytes  # the app's own limit is sized for forms

    @blueprint.post("/webhooks/<provider>")
    def receive(provider: str) -> tuple[Response, int]:
        if provider not in intake.providers:
            return jsonify(error="no such webhook"), 404
        body = request.get_data(cache=False)  # 413 past max_body_bytes, before anything is parsed
        # Werkzeug's headers: a mapping whose lookups ignore case, as HTTP's do.
        answer = intake.receive(provider, cast(Mapping[str, str], request.headers), body)
        response = jsonify(answer.body)
        if answer.retry_after:
            response.headers["Retry-After"] = answer.retry_after
        return response, answer.status

    return blueprint
