"""The web service's checks: ``base_url`` answers over valid TLS (and /healthz says the database is
reachable), and a one-click unsubscribe (RFC 8058 ``POST /u/TOKEN``) is accepted.

The unsubscribe probe posts a real token, made with ``NEWSLETTER_SECRET_KEY``, for an address on
the reserved ``.invalid`` top-level domain (RFC 6761): no subscriber can hold it (address
validation refuses reserved names, so neither imports nor the service store it, and the service
turns it away before the database), so nobody is unsubscribed, yet the answer proves the route,
the proxy's handling of POST and that the service reads tokens with the same key as ``send``.
Both connect to the address our resolver found, verifying the certificate for ``base_url``'s host.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from datetime import datetime, timezone
from urllib.parse import urlsplit

from newsletter.config import SECRET_KEY_ENV, Settings
from newsletter.core.i18n import Count
from newsletter.core.tokens import UNSUBSCRIBE, key_weakness, make_token
from newsletter.doctor.lookup import Dns, Network, unanswered
from newsletter.doctor.report import Finding, error, ok, warning
from newsletter.errors import N_, DnsUnanswered

#: An address no subscriber can have (RFC 6761 reserves ``.invalid``): the unsubscribe probe's target.
PROBE_ADDRESS = "doctor-probe@newsletter.invalid"
#: A certificate expiring sooner than this is a warning.
CERT_WARN_DAYS = 14

_VERIFY_REASONS = {10: N_("the certificate of %(host)s:%(port)d has expired"),
                   18: N_("the certificate of %(host)s:%(port)d is self-signed"),
                   19: N_("the certificate of %(host)s:%(port)d is signed by an untrusted root"),
                   20: N_("the certificate of %(host)s:%(port)d is signed by an unknown authority (is the chain "
                          "complete?)"),
                   62: N_("the certificate of %(host)s:%(port)d is for another name")}


def _connect(host: str, address: str, port: int, context: ssl.SSLContext, timeout: float) -> http.client.HTTPSConnection:
    """An HTTPS connection to ``address`` that verifies the certificate for ``host`` (found with our resolver)."""
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    raw = socket.create_connection((address, port), timeout=timeout)
    try:
        conn.sock = context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise
    return conn


def check_https(settings: Settings, key: str, network: Network, lookup: Dns, now: datetime) -> list[Finding]:
    base = settings.newsletter.base_url
    url = urlsplit(base)
    if url.scheme != "https":
        return [error("https", N_("base_url %(base)s is plain http: Gmail shows one-click unsubscribe only for https "
                                  "links, and tokens travel in clear text"),
                      N_('serve it over https and set base_url = "https://…"'), base=base)]
    host, port, prefix = url.hostname or "", url.port or 443, url.path.rstrip("/")
    context = ssl.create_default_context(cafile=str(network.ca_file) if network.ca_file else None)
    try:
        ipaddress.ip_address(host)
        address = host
    except ValueError:
        try:
            found = lookup.addresses(host)
        except DnsUnanswered as err:
            return [unanswered("https", err)]
        if not found:
            return [error("https", N_("%(host)s (base_url) has no A or AAAA record"),
                          N_("publish %(host)s A (the address of the reverse proxy in front of `newsletter serve`)"),
                          host=host)]
        address = found[0]
    conn: http.client.HTTPSConnection | None = None
    try:
        conn = _connect(host, address, port, context, network.timeout)
        sock = conn.sock
        cert = sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None
        conn.request("GET", prefix + "/healthz", headers={"User-Agent": "newsletter-doctor"})
        answer = conn.getresponse()
        answer.read(64 * 1024)
    except ssl.SSLCertVerificationError as err:
        reason = _VERIFY_REASONS.get(err.verify_code, N_("the certificate of %(host)s:%(port)d %(reason)s"))
        return [error("https", reason, N_("install a certificate from a public CA for this name (e.g. `certbot "
                                          "certonly -d %(host)s`) with its full chain"),
                      host=host, port=port, reason=err.verify_message)]
    except (OSError, http.client.HTTPException) as err:
        return [error("https", N_("%(base)s does not answer: %(kind)s: %(error)s"),
                      N_("start `newsletter serve` and the reverse proxy in front of it, and open port %(port)d to "
                         "the Internet"), base=base, kind=err.__class__.__name__, error=str(err), port=port)]
    finally:
        if conn is not None:
            conn.close()
    findings: list[Finding] = []
    if cert and cert.get("notAfter"):
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(cert["notAfter"])), timezone.utc)
        days = (expires - now).days
        if days < CERT_WARN_DAYS:
            findings.append(warning("https", N_("the certificate of %(host)s expires in %(days)s (%(date)s)"),
                                    N_("renew it (e.g. `certbot renew`) and check that renewal runs by itself"),
                                    host=host, days=Count("%(num)d day", "%(num)d days", days),
                                    date=f"{expires:%Y-%m-%d}"))
    if answer.status == 503:
        findings.append(error("https", N_("%(base)s/healthz answers 503: the service cannot reach its database"),
                              N_("read the service's log (journalctl -u newsletter-web) and check [store] url"),
                              base=base))
    elif answer.status >= 500:
        findings.append(error("https", N_("%(base)s/healthz answers HTTP %(status)d"),
                              N_("read the service's log (journalctl -u newsletter-web) and the proxy's error log"),
                              base=base, status=answer.status))
    elif not findings:
        findings.append(ok("https", N_("%(base)s answers over valid TLS (/healthz: HTTP %(status)d)"), base=base,
                           status=answer.status))
    findings.append(_one_click(host, address, port, prefix, key, context, network.timeout))
    return findings


def _one_click(host: str, address: str, port: int, prefix: str, key: str, context: ssl.SSLContext, timeout: float) -> Finding:
    """POST an RFC 8058 one-click unsubscribe for :data:`PROBE_ADDRESS`, as a mailbox provider would."""
    check = "one-click"
    if not key.strip():
        return warning(check, N_("not checked: %(variable)s is needed to make a test token"),
                       N_("run the doctor with %(variable)s set as for serve"), variable=SECRET_KEY_ENV)
    token = make_token(key, UNSUBSCRIBE, PROBE_ADDRESS)
    conn: http.client.HTTPSConnection | None = None
    try:
        conn = _connect(host, address, port, context, timeout)
        conn.request("POST", f"{prefix}/u/{token}", body=b"List-Unsubscribe=One-Click",
                     headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "newsletter-doctor"})
        answer = conn.getresponse()
        answer.read(64 * 1024)
    except (OSError, http.client.HTTPException) as err:
        return error(check, N_("POST /u/… failed: %(kind)s"),
                     N_("check that the reverse proxy passes POST requests to `newsletter serve`"),
                     kind=err.__class__.__name__)
    finally:
        if conn is not None:
            conn.close()
    status = answer.status
    if status == 200:
        said = (N_("POST /u/TOKEN (RFC 8058 one-click) is accepted, and the service reads tokens made with this "
                   "%(variable)s (a weak key, see above)") if key_weakness(key) else
                N_("POST /u/TOKEN (RFC 8058 one-click) is accepted, and the service reads tokens made with this "
                   "%(variable)s"))
        return ok(check, said, variable=SECRET_KEY_ENV)
    if status == 400:
        return error(check, N_("the service refused a token made with this %(variable)s: serve runs with another "
                               "key, so the links in sent issues do not open"),
                     N_("give send, schedule run and serve the same %(variable)s"), variable=SECRET_KEY_ENV)
    if 300 <= status < 400:
        return error(check, N_("POST /u/… answers a redirect (HTTP %(status)d); mailbox providers post once and do "
                               "not follow it"),
                     N_("let the reverse proxy pass /u/ to `newsletter serve` without redirecting (check base_url's "
                        "exact scheme, host and path)"), status=status)
    if status in (404, 405):
        return error(check, N_("POST /u/… answers HTTP %(status)d: one-click unsubscribes do not reach the service"),
                     N_("route base_url/u/ (all methods) to `newsletter serve`"), status=status)
    return error(check, N_("POST /u/… answers HTTP %(status)d"),
                 N_("read the service's log and the proxy's error log"), status=status)
