"""The Flask extensions the blueprints declare their needs to: CSRF protection and rate limits.

``csrf`` is shared (it only remembers which views are exempt, by name). Rate limits are counted
per application, so a view is only *marked* here with :func:`rate_limited`; the factory gives
each application its own limiter and applies the marks (:func:`apply_rate_limits`).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from flask import Flask
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFProtect

from newsletter.config import WebSettings

csrf = CSRFProtect()

View = TypeVar("View", bound=Callable[..., object])
KeyFunc = Callable[[], str]
_MARK = "_newsletter_rate_limits"


def rate_limited(rule: Callable[[WebSettings], str], key: KeyFunc | None = None) -> Callable[[View], View]:
    """Mark a view as limited by the ``[web]`` rule ``rule`` returns, per client address or per ``key``."""

    def mark(view: View) -> View:
        setattr(view, _MARK, (*getattr(view, _MARK, ()), (rule, key)))
        return view

    return mark


def apply_rate_limits(app: Flask, limiter: Limiter, web: WebSettings) -> None:
    """Wrap every marked view of ``app`` in its limits (call once every blueprint is registered)."""
    for endpoint, view in list(app.view_functions.items()):
        limited: Any = view
        for rule, key in getattr(view, _MARK, ()):
            limited = limiter.limit(rule(web), key_func=key)(limited)
        app.view_functions[endpoint] = limited
