"""``/healthz``: whether the service can reach its database, for the operator's monitoring."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from newsletter.web.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    try:
        with services().store.engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as err:  # any database failure is what this endpoint reports
        return {"status": "error", "database": err.__class__.__name__}, 503
    return {"status": "ok", "database": "ok"}, 200
