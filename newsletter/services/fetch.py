"""Fetching a page the editor names, safely: the server makes these requests for whoever types a link.

Every fetch is http(s) only, bounded in time (``[sourcing] timeout``, for connecting and for each
read, and twice that for the whole answer) and in size (``[sourcing] max_bytes``), and follows at
most :data:`MAX_REDIRECTS` redirects. Each hop's host is resolved here, *every* address it resolves
to is checked (loopback, private, link-local, reserved and multicast addresses are refused unless
``[sourcing] allow_private_networks``), and the connection goes to the address that was checked,
never to a name resolved again: a DNS answer that changes between the check and the connection
(DNS rebinding) cannot lead the request inside. TLS still verifies the certificate for the name.
"""

from __future__ import annotations

import ast
import ipaddress
import re
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import idna
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError, TimeoutError as Urllib3Timeout

from newsletter.config import SourcingSettings
from newsletter.core.i18n import Count, Message, Quoted, template_pattern
from newsletter.core.version import VERSION
from newsletter.errors import N_, FetchError, FetchRefused

#: Redirects followed before the fetch is given up as a loop.
MAX_REDIRECTS = 5
USER_AGENT = f"newsletter/{VERSION} (+draft; a newsroom's link check)"

# What a fetch that gets no usable answer says, and the kind of failure each sentence is (:func:`failure_kind`).
_NOT_FOUND = N_("%(url)s: the host %(host)s cannot be found (DNS: %(reason)s); check the address")
_NO_ADDRESS = N_("%(url)s: the host %(host)s has no address (DNS)")
_PRIVATE = N_("%(url)s: %(host)s leads to %(address)s, a loopback or private network address, which is not fetched")
_LOOP = N_("%(url)s: more than %(count)s (a loop?); open it in a browser and copy the address it ends at")
_NO_ANSWER = N_("%(url)s: no answer within %(seconds)s s (timeout)")
_SLOW = N_("%(url)s: the answer took more than %(seconds)s s to arrive (timeout)")
_TLS = N_("%(url)s: the secure connection failed (%(reason)s); the site's certificate may be invalid")
_UNREACHABLE = N_("%(url)s: the server does not answer (connection refused or unreachable)")
_BROKE_OFF = N_("%(url)s: the server's answer broke off (%(reason)s)")
_TOO_LARGE = N_("%(url)s: the answer is %(size)d KB, over the %(cap)d KB read; is it the article's address?")
_OVER_CAP = N_("%(url)s: the answer is over the %(cap)d KB read; is it the article's address?")
# What an address refused for its form says.
_SPACE = N_("the address %(url)s contains a space or a line break; copy it again from the browser's address bar "
             "(a space is written %%20 there)")
_MALFORMED = N_("the address %(url)s is malformed (%(reason)s); copy it again from the browser")
_NOT_HTTP = N_("the address %(url)s is not a complete http:// or https:// address")
_BAD_IDN = N_("the host name of %(url)s is not a valid international domain name (%(reason)s)")
_BAD_NAME = N_("the host name of %(url)s is not a valid domain name (a part between two dots is empty or over 63 "
                "characters)")
_REDIRECTS = Count("%(num)d redirect", "%(num)d redirects", MAX_REDIRECTS)
_KINDS = ((_NOT_FOUND, "dns"), (_NO_ADDRESS, "dns"), (_PRIVATE, "refused"), (_LOOP, "loop"), (_NO_ANSWER, "timeout"),
          (_SLOW, "timeout"), (_TLS, "tls"), (_UNREACHABLE, "unreachable"), (_BROKE_OFF, "broken"),
          (_TOO_LARGE, "too large"), (_OVER_CAP, "too large"))
_PATTERNS = tuple((template_pattern(template), kind) for template, kind in _KINDS)


#: The templates whose %(url)s is :class:`Quoted` (what ``check --links`` keeps is its English, ``repr()``'s).
_QUOTED_URL = (_SPACE, _MALFORMED, _NOT_HTTP, _BAD_IDN, _BAD_NAME)
_SENTENCES = tuple((template, template_pattern(template))
                   for template in (*(template for template, _kind in _KINDS), _SPACE, _MALFORMED, _NOT_HTTP, _BAD_IDN,
                                    _BAD_NAME))


def failure_message(sentence: str) -> Message:
    """A fetch's failure as :class:`FetchError` said it in English (what ``check --links`` keeps), made
    translatable again: its template and values; a sentence of no known template stays as it is."""
    for template, pattern in _SENTENCES:
        found = pattern.fullmatch(sentence)
        if found:
            values: dict[str, object] = dict(found.groupdict())
            for name, kind in re.findall(r"%\(([a-z]+)\)([sd])", template):
                if kind == "d":
                    values[name] = int(str(values[name]))
            if "count" in values:
                values["count"] = _REDIRECTS  # the one counted value (_LOOP's)
            if template in _QUOTED_URL:
                values["url"] = _requoted(str(values["url"]))
            return Message(template, values)
    return Message("%(sentence)s", {"sentence": sentence})


def _requoted(shown: str) -> object:
    """A value as ``repr()`` wrote it in a kept sentence, :class:`Quoted` again (so that French says it « … »);
    what is not a string literal stays as it is."""
    try:
        value = ast.literal_eval(shown)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return shown
    return Quoted(value) if isinstance(value, str) else shown


def failure_kind(message: str) -> str:
    """What kind of failure a fetch's message (as :class:`FetchError` said it in English) reports: ``dns``,
    ``timeout``, ``unreachable``, ``tls``, ``broken``, ``loop``, ``too large``, ``refused`` or ``other``
    (what ``check --links`` keeps is the sentence; the desk says its kind in its own words)."""
    return next((kind for pattern, kind in _PATTERNS if pattern.fullmatch(message)), "other")


@dataclass(frozen=True)
class Fetched:
    """The answer at the end of the redirects: its address, status, type and body (capped)."""

    url: str
    status: int
    content_type: str  # lower case, without parameters ("" when absent)
    charset: str  # from the Content-Type ("" when absent)
    body: bytes
    redirects: tuple[str, ...] = field(default=())  # every address that answered with a redirect


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII (an IDN host in its xn-- form)
    port: int
    target: str  # path and query
    host_header: str


def _target(url: str) -> _Target:
    """Parse and check an address's form (not yet where it leads)."""
    if any(c.isspace() for c in url):
        raise FetchRefused(_SPACE, values={"url": Quoted(url)})
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise FetchRefused(_MALFORMED, values={"url": Quoted(url), "reason": str(err)}) from err
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused(_NOT_HTTP, values={"url": Quoted(url)})
    try:
        host = idna.encode(parts.hostname, uts46=True).decode("ascii") if not parts.hostname.isascii() \
            else parts.hostname.lower()
    except idna.IDNAError as err:
        raise FetchRefused(_BAD_IDN, values={"url": Quoted(url), "reason": str(err)}) from err
    if ":" not in host and any(not 0 < len(label) <= 63 for label in host.removesuffix(".").split(".")):
        raise FetchRefused(_BAD_NAME, values={"url": Quoted(url)})
    port = port or (443 if scheme == "https" else 80)
    default = port == (443 if scheme == "https" else 80)
    shown = f"[{host}]" if ":" in host else host
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(scheme, host, port, target, shown if default else f"{shown}:{port}")


def _refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return not address.is_global or address.is_multicast or address.is_loopback or address.is_link_local


def _resolve(target: _Target, url: str, allow_private: bool) -> str:
    """The one address to connect to, once every address of the host has been checked."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise FetchError(_NOT_FOUND,
                         values={"url": url, "host": target.host,
                                 "reason": str(getattr(err, "strerror", None) or err)}) from err
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise FetchError(_NO_ADDRESS, values={"url": url, "host": target.host})
    if not allow_private:
        for address in addresses:
            if _refused_address(address):
                raise FetchRefused(
                    _PRIVATE, values={"url": url, "host": target.host, "address": str(address)},
                    hint=N_("only public pages can be drafted from; an intranet's pages need "
                            "[sourcing] allow_private_networks = true in newsletter.toml"))
    return str(addresses[0])


def _pool(target: _Target, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(address, target.port, timeout=limits, retries=False, maxsize=1,
                                           cert_reqs="CERT_REQUIRED", server_hostname=target.host,
                                           assert_hostname=target.host)
    return urllib3.HTTPConnectionPool(address, target.port, timeout=limits, retries=False, maxsize=1)


def fetch(url: str, settings: SourcingSettings, *, accept: str = "*/*", method: str = "GET",
          max_bytes: int | None = None) -> Fetched:
    """Fetch ``url`` (redirects followed, each hop checked) and return the final answer, whatever its status.

    :param max_bytes: the cap on the body (default ``[sourcing] max_bytes``); 0: the body is not read.
    :raises FetchRefused: for an address that is malformed, not http(s), or on a private network.
    :raises FetchError: for no answer, a timeout, a body over the cap, or a loop of redirects.
    """
    cap = settings.max_bytes if max_bytes is None else max_bytes
    redirects: list[str] = []
    current = url.strip()
    while True:
        target = _target(current)
        address = _resolve(target, current, settings.allow_private_networks)
        pool = _pool(target, address, settings.timeout)
        try:
            response = pool.urlopen(method, target.target, redirect=False, preload_content=False, retries=False,
                                    headers={"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": accept,
                                             "Accept-Encoding": "identity"})
            try:
                location = response.headers.get("Location")
                if 300 <= response.status < 400 and location:
                    redirects.append(current)
                    if len(redirects) > MAX_REDIRECTS:
                        raise FetchError(_LOOP, values={"url": url, "count": _REDIRECTS})
                    current = urljoin(current, location)
                    continue
                body = _read(response, cap, settings.timeout * 2, current) if method != "HEAD" and cap else b""
            finally:
                response.release_conn()
        except NewConnectionError as err:  # before the timeout: urllib3 2 makes it a kind of connect timeout
            raise FetchError(_UNREACHABLE, values={"url": current}) from err
        except Urllib3Timeout as err:
            raise FetchError(_NO_ANSWER, values={"url": current, "seconds": f"{settings.timeout:g}"}) from err
        except SSLError as err:
            raise FetchError(_TLS, values={"url": current, "reason": err.__class__.__name__}) from err
        except HTTPError as err:
            raise FetchError(_BROKE_OFF, values={"url": current, "reason": err.__class__.__name__}) from err
        finally:
            pool.close()
        kind, _, params = (response.headers.get("Content-Type") or "").partition(";")
        charset = next((p.split("=", 1)[1].strip().strip('"') for p in params.split(";")
                        if p.strip().lower().startswith("charset=")), "")
        return Fetched(current, response.status, kind.strip().lower(), charset, body, tuple(redirects))


def _read(response: urllib3.BaseHTTPResponse, cap: int, budget: float, url: str) -> bytes:
    """The body, refused beyond ``cap`` bytes or ``budget`` seconds (a server that trickles)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(_TOO_LARGE, values={"url": url, "size": int(declared) // 1024, "cap": cap // 1024})
    deadline = time.monotonic() + budget
    chunks, size = [], 0
    for chunk in response.stream(64 * 1024):
        size += len(chunk)
        if size > cap:
            raise FetchError(_OVER_CAP, values={"url": url, "cap": cap // 1024})
        if time.monotonic() > deadline:
            raise FetchError(_SLOW, values={"url": url, "seconds": f"{budget:g}"})
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Posted:
    """A POST's answer: the status of the last address, and that address."""

    url: str
    status: int


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private_redirects: bool) -> Posted:
    """POST ``body`` to ``url``, an address the operator configured (so it may be on this machine), following
    only the redirects that keep the method and the body (307, 308), each to a public address unless
    ``allow_private_redirects``: a receiver cannot lead the request inside the network.

    :raises FetchRefused: for a redirect to a private address, or to an address that is not http(s).
    :raises FetchError: for no answer, a timeout, or a loop of redirects.
    """
    current, hops = url, 0
    while True:
        target = _target(current)
        address = _resolve(target, current, hops == 0 or allow_private_redirects)
        pool = _pool(target, address, timeout)
        try:
            response = pool.urlopen("POST", target.target, body=body, redirect=False, preload_content=False,
                                    retries=False, headers={"Host": target.host_header, "User-Agent": USER_AGENT,
                                                            "Accept-Encoding": "identity", **headers})
            try:
                location = response.headers.get("Location")
                if response.status in (307, 308) and location:
                    hops += 1
                    if hops > MAX_REDIRECTS:
                        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects (a loop?)")
                    current = urljoin(current, location)
                    continue
                _read(response, 64 * 1024, timeout * 2, current)  # the answer is not used; a large one is an error
            finally:
                response.release_conn()
        except NewConnectionError as err:  # before the timeout: urllib3 2 makes it a kind of connect timeout
            raise FetchError(f"{current}: the server does not answer (connection refused or unreachable)") from err
        except Urllib3Timeout as err:
            raise FetchError(f"{current}: no answer within {timeout:g} s (timeout)") from err
        except SSLError as err:
            raise FetchError(f"{current}: the secure connection failed ({err.__class__.__name__})") from err
        except HTTPError as err:
            raise FetchError(f"{current}: the server's answer broke off ({err.__class__.__name__})") from err
        finally:
            pool.close()
        return Posted(current, response.status)
