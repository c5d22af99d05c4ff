"""What every page of ours answers with, whatever serves it: the public service, the desk, the preview.

The HTTP front ends share one policy, set here once (:mod:`newsletter.frontends.http` hardens the
server under the first two against slow clients):

- **security headers** (:func:`security_headers`): no MIME sniffing, no framing, no referrer (tokens
  travel in URLs), a browsing context of our own, and a Content-Security-Policy that starts from
  nothing allowed (:func:`page_policy` adds what an app's pages need); HSTS where the app's address is
  https. An email shown in a frame of ours gets :data:`FRAMED_EMAIL_POLICY` instead: framed by us
  only, its scripts never run.
- **cookies and proxies** (:func:`harden`, for the Flask apps): a session key derived from
  ``NEWSLETTER_SECRET_KEY`` for that app alone, cookies ``HttpOnly``, ``SameSite=Lax``, ``Secure``
  when the app's address is https, and forwarded headers believed from exactly ``trusted_proxies``
  hops (client address and scheme only: links come from the configured address, never a header).
- **rate limits** (:func:`limiter`): Flask-Limiter in memory, limits announced in the answers'
  headers; each app declares its own limits on it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Callable, Mapping

from flask import Flask, Response
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

#: The headers every page of every front end carries, with the same values.
SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # tokens travel in URLs (unsubscribe, confirm, proofs)
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: Where every page's Content-Security-Policy starts: nothing loads, nothing frames it, forms post to us.
BASE_POLICY = ("default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'")
#: The policy of an email shown in one of our frames (the desk's and the preview's): its images and
#: inline styles, framed by our own pages only, sandboxed so that no script of it runs.
FRAMED_EMAIL_POLICY = ("default-src 'none'; img-src 'self' https: data:; style-src 'unsafe-inline'; "
                       "frame-ancestors 'self'; sandbox allow-same-origin")
#: A year: what browsers remember that the app is https only.
HSTS = "max-age=31536000"

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def page_policy(*sources: str) -> str:
    """The Content-Security-Policy of an app's pages: :data:`BASE_POLICY` plus ``sources``
    (``"img-src 'self' data:"``…)."""
    first, *rest = BASE_POLICY
    return "; ".join((first, *sources, *rest))


def inline_script_sources(html: str) -> str:
    """``script-src`` allowing exactly the inline scripts of ``html`` by their SHA-256 (no ``unsafe-inline``)."""
    hashes = [base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
              for body in _SCRIPT.findall(html)]
    return "script-src " + " ".join(f"'sha256-{h}'" for h in hashes) if hashes else "script-src 'none'"


def security_headers(policy: str, *, https: bool = False) -> dict[str, str]:
    """The headers of one page: :data:`SECURITY_HEADERS`, its ``policy``, and HSTS when ``https``."""
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": policy}
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def harden(app: Flask, *, purpose: str, secret_key: str, base_url: str, trusted_proxies: int, policy: str,
           no_store: Callable[[], bool], cookie_name: str | None = None) -> None:
    """Set up ``app``'s cookies, forwarded headers and security headers (see the module's docstring).

    :param purpose: names the app in its session key, so that one app's cookie never opens another.
    :param base_url: the app's public address (https: secure cookies and HSTS).
    :param policy: its pages' Content-Security-Policy (:func:`page_policy`); a view may set its own.
    :param no_store: whether the current request's answer must not be cached.
    """
    https = base_url.startswith("https://")
    app.config.update(
        SECRET_KEY=hashlib.sha256(f"{purpose}\0{secret_key}".encode()).hexdigest(),
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_SSL_STRICT=False,  # the Origin/Referer check breaks behind some proxies; the token suffices
    )
    if cookie_name:
        app.config["SESSION_COOKIE_NAME"] = cookie_name
    if trusted_proxies:
        n = trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0, x_prefix=0)  # type: ignore[method-assign]
    headers = security_headers(policy, https=https)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if no_store():
            response.headers["Cache-Control"] = "no-store"
        return response


def limiter(app: Flask) -> Limiter:
    """Flask-Limiter on ``app``, in memory (one process), announcing limits in the answers' headers."""
    return Limiter(get_remote_address, app=app, storage_uri="memory://", default_limits=[], headers_enabled=True)
