"""``newsletter doctor``: what a receiving mail server and a mailbox provider will see of this setup.

Each check returns findings (ok / warning / error, each with a one-line fix, :mod:`.report`) and
prints nothing; one module per check:

- :mod:`.config`: the configuration loads, the secret key is strong, the delivery adapter's
  credentials are in the environment, ``check`` has its spelling dictionary;
- :mod:`.spf`: the From domain's SPF record (and the bounce domain's, which receivers check when
  ``[bounces]`` makes it the envelope sender), parsed and followed by checkdmarc;
- :mod:`.dkim`: the DKIM selector's record holds the public half of ``[dkim] private_key_file``;
- :mod:`.dmarc`: the DMARC record (checkdmarc), its policy, and whether DKIM or SPF aligns with the
  From domain on organizational domains (:mod:`.organization`, the Public Suffix List shipped by
  publicsuffixlist: nothing is fetched);
- :mod:`.mx`: the bounce domain's MX;
- :mod:`.https`: ``base_url`` answers over valid TLS, and a one-click unsubscribe is accepted.

Every network step has a timeout (DNS lifetime, socket timeout), so no check can hang; after two
DNS timeouts in a row the remaining lookups are skipped (:mod:`.lookup`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from newsletter import providers
from newsletter.config import SECRET_KEY_ENV, Settings, load_settings
from newsletter.core.addresses import ascii_domain
from newsletter.doctor.config import check_credentials, check_secret_key, check_spelling, check_unsubscribe_mailbox
from newsletter.doctor.dkim import check_dkim
from newsletter.doctor.dmarc import check_dmarc
from newsletter.doctor.https import CERT_WARN_DAYS, PROBE_ADDRESS, check_https
from newsletter.doctor.lookup import Dns, Network, parse_nameserver, unanswered
from newsletter.doctor.mx import check_bounce_mx
from newsletter.doctor.report import Finding, HintOf, Level, error, has_errors, ok
from newsletter.doctor.spf import Relay, check_spf
from newsletter.errors import N_, ConfigError, DnsUnanswered, NewsletterError

__all__ = ["CERT_WARN_DAYS", "PROBE_ADDRESS", "Finding", "Level", "Network", "diagnose", "has_errors",
           "parse_nameserver"]


def diagnose(root: Path, *, environ: Mapping[str, str], network: Network = Network(),
             now: datetime | None = None) -> list[Finding]:
    """Every finding for the project at ``root``; a configuration that does not load ends the list."""
    try:
        settings = load_settings(root)
    except NewsletterError as err:
        if err.hint:
            return [error("config", "%(error)s", "%(hint)s", error=err, hint=HintOf(err))]
        return [error("config", "%(error)s", N_("edit newsletter.toml"), error=err)]
    findings = [ok("config", N_("%(file)s loads"), file=root / "newsletter.toml")]
    key = environ.get(SECRET_KEY_ENV, "")
    findings.append(check_secret_key(key))
    findings.extend(check_credentials(settings, environ))
    findings.append(check_unsubscribe_mailbox(settings))
    findings.append(check_spelling(settings))
    lookup = Dns(network.make_resolver(), network.timeout)
    findings.extend(_mail_dns(settings, lookup))
    findings.extend(check_https(settings, key, network, lookup, now or datetime.now(timezone.utc)))
    return findings


def _mail_dns(settings: Settings, lookup: Dns) -> list[Finding]:
    from_domain = ascii_domain(settings.newsletter.sender_domain)
    relay = Relay.of(settings, lookup)
    findings: list[Finding] = []
    envelope = _envelope_domain(settings)
    for domain in dict.fromkeys([from_domain, *([envelope] if envelope else [])]):
        # The relay must be in the record receivers check: the envelope sender's (when known).
        try:
            findings.extend(check_spf(domain, lookup.txt(domain), relay, lookup,
                                      must_cover=not envelope or domain == envelope))
        except DnsUnanswered as err:
            findings.append(unanswered(f"spf {domain}", err))
    try:
        findings.extend(check_dkim(settings, lookup))
    except DnsUnanswered as err:
        findings.append(unanswered("dkim", err))
    try:
        findings.extend(check_dmarc(settings, from_domain, envelope, lookup))
    except DnsUnanswered as err:
        findings.append(unanswered("dmarc", err))
    if settings.bounces is not None:
        findings.extend(check_bounce_mx(settings.bounces, lookup))
    return findings


def _envelope_domain(settings: Settings) -> str:
    """The domain SPF is checked on: the bounce domain with ``[bounces]``, else the From domain
    (SMTP and outbox); the sending domain of a mail API that sends with it (its provider's
    :attr:`~newsletter.providers.Provider.envelope_domain_key`: Mailgun's ``domain``); empty for the other
    mail APIs, whose envelope sender is their own unless a custom return path is set up in their dashboard."""
    adapter = settings.delivery.adapter
    try:
        provider = providers.find(adapter)
    except ConfigError:
        provider = None
    if provider is not None and provider.envelope_domain_key:
        return ascii_domain(str(settings.delivery.adapters.get(adapter, {}).get(provider.envelope_domain_key, ""))
                            .lower())
    if adapter not in ("smtp", "outbox"):
        return ""
    if settings.bounces is not None:
        return ascii_domain(settings.bounces.address.rpartition("@")[2])
    return ascii_domain(settings.newsletter.sender_domain)
