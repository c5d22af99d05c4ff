"""Serving the desk: waitress on 127.0.0.1:8090 unless ``[desk]`` says how it is reached from elsewhere.

As with ``serve``, the desk expects a reverse proxy for remote editors: listening on an address
other than loopback is refused unless ``[desk] base_url`` names the https address the proxy
serves it at (so that the session cookie is ``Secure``), and the weak key the demo tolerates
is accepted on loopback only (``Newsletter.secret_key(listen=…)``).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from newsletter.frontends import http as http_server
from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.library import Newsletter


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(nl: "Newsletter", host: str) -> None:
    """Refuse to listen off loopback without the proxy settings that make it safe.

    :raises ConfigError: naming the key to set.
    """
    if not is_loopback(host) and not nl.settings.desk.base_url:
        raise ConfigError(
            f"the desk would listen on {host}, reachable from other machines, but [desk] base_url is not set",
            hint='keep --host 127.0.0.1 behind a reverse proxy, or set [desk] base_url = "https://desk.example.org" '
                 "(the proxy's https address) and trusted_proxies = 1")


def options(nl: "Newsletter") -> dict[str, Any]:
    """waitress's adjustments: bodies up to an image upload, idle connections dropped after a minute."""
    return {
        "max_request_body_size": nl.settings.desk.max_image_bytes + 64 * 1024,
        "max_request_header_size": 16384,
        "connection_limit": 100,
        "channel_timeout": 60,
        "asyncore_use_poll": True,
        "ident": "newsletter-desk",
        "clear_untrusted_proxy_headers": False,  # [desk] trusted_proxies decides (ProxyFix in the app)
    }


def slow_client_limits(nl: "Newsletter") -> http_server.SlowClientLimits:
    """``[desk]``'s deadlines, and 20 of the 100 connections per client address unless behind a proxy."""
    desk = nl.settings.desk
    return http_server.SlowClientLimits(desk.header_timeout, desk.body_timeout, 0 if desk.trusted_proxies else 20)


def create_server(nl: "Newsletter", *, host: str | None = None, port: int | None = None, threads: int = 4) -> Any:
    """The desk's waitress server bound to ``host:port`` (default ``[desk]``; port 0: a free one), not yet running.

    :raises ConfigError: when the host is not allowed or the key is missing or weak.
    """
    from newsletter.frontends.desk.app import create_app

    host = host or nl.settings.desk.host
    port = nl.settings.desk.port if port is None else port
    check_listen(nl, host)
    key = nl.secret_key(listen=host).value
    try:
        return http_server.create_server(create_app(nl, key), host=host, port=port, threads=threads,
                                         limits=slow_client_limits(nl), **options(nl))
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror}", hint="choose another --port") from err
