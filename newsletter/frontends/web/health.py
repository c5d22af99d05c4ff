"""``/healthz``: whether the service can reach its database, for the operator's monitoring."""

from __future__ import annotations

from flask import Blueprint

from newsletter.frontends.web.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    result = services().nl.health()
    return {"status": "ok" if result.ok else "error", "database": result.database}, 200 if result.ok else 503
