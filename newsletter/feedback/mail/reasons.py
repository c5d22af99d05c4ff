"""Why a message came back, in the words mail administrators and sending services use, and whether it says
anything against the address.

A reason is read from everything a report says: an enhanced status code (RFC 3463, with the
registry's later codes such as 5.7.26 for DMARC), the text of the receiver's reply (its phrases
mean the same across servers: "user unknown", "over quota", "blocked using", …) and, for reports
with no code at all, the words around it. Only the address's own absence makes a bounce hard (user
unknown, host unknown, mailbox disabled, invalid address); a full mailbox, an expired queue, a
receiver refusing *our* sender, its policy, spam filter, authentication checks or rate limits are
soft: the reader is still there, and repeated soft bounces still reach the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """One reason of the table: its word, whether it says the address is gone, and how specific it is."""

    word: str
    hard: bool
    generic: bool = False  # a fallback ("permanent failure"), chosen only when nothing more precise is known


USER_UNKNOWN = Reason("user unknown", hard=True)
HOST_UNKNOWN = Reason("host unknown", hard=True)
MAILBOX_DISABLED = Reason("mailbox disabled", hard=True)
INVALID_ADDRESS = Reason("invalid address", hard=True)
MAILBOX_FULL = Reason("mailbox full", hard=False)
MESSAGE_TOO_LARGE = Reason("message too large", hard=False)
SENDER_REFUSED = Reason("sender refused", hard=False)
AUTH_FAILURE = Reason("auth failure", hard=False)
RATE_LIMITED = Reason("rate limited", hard=False)
GREYLISTED = Reason("greylisted", hard=False)
SPAM = Reason("spam", hard=False)
BLOCKED = Reason("blocked", hard=False)
POLICY = Reason("policy", hard=False)
EXPIRED = Reason("expired", hard=False)
CONNECTION_FAILED = Reason("connection failed", hard=False)
DELAYED = Reason("delayed", hard=False, generic=True)
TEMPORARY = Reason("temporary failure", hard=False, generic=True)
PERMANENT = Reason("permanent failure", hard=True, generic=True)

#: Every reason, most specific first: when a report gives several, the first one here is named.
TABLE = (USER_UNKNOWN, HOST_UNKNOWN, MAILBOX_DISABLED, INVALID_ADDRESS, MAILBOX_FULL, MESSAGE_TOO_LARGE,
         SENDER_REFUSED, AUTH_FAILURE, RATE_LIMITED, GREYLISTED, SPAM, BLOCKED, POLICY, EXPIRED,
         CONNECTION_FAILED, DELAYED, TEMPORARY, PERMANENT)
_RANK = {reason: n for n, reason in enumerate(TABLE)}

#: Enhanced codes by subject.detail (RFC 3463 and the IANA registry). Codes that servers use for several
#: things (x.1.0, x.2.0, x.4.1, x.5.0…) are left out: their text decides.
_CODES = {
    "1.1": USER_UNKNOWN, "1.6": USER_UNKNOWN, "1.10": USER_UNKNOWN,  # 1.10: Microsoft's RecipientNotFound
    "1.2": HOST_UNKNOWN, "4.4": HOST_UNKNOWN,  # 4.4: unable to route (no MX, no address)
    "1.3": INVALID_ADDRESS,
    "1.7": SENDER_REFUSED, "1.8": SENDER_REFUSED,
    "2.1": MAILBOX_DISABLED,
    "2.2": MAILBOX_FULL,
    "2.3": MESSAGE_TOO_LARGE, "3.4": MESSAGE_TOO_LARGE,
    "4.7": EXPIRED,
    "7.1": POLICY, "7.0": POLICY, "7.9": POLICY,
    "7.8": AUTH_FAILURE, "7.20": AUTH_FAILURE, "7.21": AUTH_FAILURE, "7.22": AUTH_FAILURE, "7.23": AUTH_FAILURE,
    "7.24": AUTH_FAILURE, "7.25": AUTH_FAILURE, "7.26": AUTH_FAILURE, "7.27": AUTH_FAILURE,
    "7.28": RATE_LIMITED,
    "7.606": BLOCKED, "7.708": BLOCKED, "7.510": BLOCKED, "7.511": BLOCKED,
}
#: Temporary-only meanings (a 5.4.1 from Exchange Online means "recipient not found", not a dropped line).
_TEMPORARY_CODES = {"4.1": CONNECTION_FAILED, "4.2": CONNECTION_FAILED, "2.0": TEMPORARY}


def _phrases(*words: str) -> re.Pattern[str]:
    return re.compile("|".join(words), re.IGNORECASE)


#: What receivers write, by reason; read in the order of the table. Found in replies of Exim, Postfix,
#: Sendmail, qmail, Courier, OpenSMTPD, Exchange, Gmail, Yahoo, Mail.ru, Domino and Oracle's server.
_PHRASES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (MAILBOX_FULL, _phrases(r"mailbox (is )?full", r"over ?(the )?(allowed )?quota", r"quota (exceeded|exceded)",
                            r"exceeded (the )?(storage|quota)", r"out of (storage|space)", r"storage allocation",
                            r"insufficient (storage|disk)", r"inbox is full", r"quotaexceeded", r"mailbox size limit",
                            r"blocks limit exceeded", r"full mailbox", r"maildir over quota")),
    (MESSAGE_TOO_LARGE, _phrases(r"message (size )?(is )?too (big|large)", r"size exceeds", r"message size exceeds",
                                 r"exceeds (the )?(maximum )?(message )?size")),
    (SENDER_REFUSED, _phrases(r"sender (address )?(rejected|refused|denied|blocked)", r"sender verify failed",
                              r"verification failed for <", r"domain of sender address", r"sender domain (not found|"
                              r"does not exist|must resolve)", r"bad sender", r"unverified sender",
                              r"sender address does not exist")),
    (AUTH_FAILURE, _phrases(r"\bspf\b", r"sender policy framework", r"\bdkim\b", r"\bdmarc\b", r"unauthenticated",
                            r"authentication (failed|required|check)", r"reverse (dns|hostname|lookup)", r"\bptr\b",
                            r"mismatches client ip", r"not authorized to send", r"rdns")),
    (RATE_LIMITED, _phrases(r"rate.?limit", r"too many (messages|connections|recipients|mails)", r"unusual rate",
                            r"throttl", r"unexpected volume", r"slow down")),
    (GREYLISTED, _phrases(r"gr[ae]y.?list")),
    (SPAM, _phrases(r"\bspam\b", r"unsolicited", r"junk mail", r"content (rejected|filter)", r"bulk mail", r"\bube\b",
                    r"phishing", r"message content")),
    (BLOCKED, _phrases(r"block ?list", r"black ?list", r"blocked", r"\bdnsbl\b", r"\brbl\b", r"spamhaus",
                       r"reputation", r"\bbanned\b", r"(?<!not )listed (at|on|in) ", r"denylist", r"\bs3140\b")),
    (POLICY, _phrases(r"polic(y|ies)", r"relay(ing)? (access )?denied", r"relaying", r"administrative prohibition",
                      r"not permitted", r"prohibited")),
    (EXPIRED, _phrases(r"retry time ?out exceeded", r"retry timeout", r"message expired", r"queue\.expired",
                       r"(too long|too old) in (the )?queue", r"in the queue too long", r"could not be delivered for "
                       r"\d+ ?day", r"delivery time expired", r"expired after", r"has been in the queue too long",
                       r"retry time not reached for any host after a long failure period")),
    (HOST_UNKNOWN, _phrases(r"host (or domain name )?not found", r"host unknown", r"unknown host", r"no such (host|domain)",
                            r"couldn'?t find any host", r"could not find any host", r"domain (name )?(not found|does "
                            r"not exist)", r"unrout(e)?able", r"\bno mx\b", r"null mx", r"name service error",
                            r"nxdomain")),
    (MAILBOX_DISABLED, _phrases(r"(account|mailbox|user) (is |has been )?(disabled|deactivated|inactive|suspended)",
                                r"disabled ?user", r"no longer (active|in use|available)", r"account.*\bdisabled\b")),
    (USER_UNKNOWN, _phrases(r"user unknown", r"unknown user", r"no such (user|mailbox|recipient|address|person)",
                            r"user not found", r"does not exist", r"doesn'?t exist", r"doesn'?t have an? .{0,40}account",
                            r"not listed in (the )?(domino directory|public name)", r"no mailbox here",
                            r"mailbox (unavailable|not found)", r"invalid (mailbox|recipient)", r"recipient (not found|"
                            r"unknown|rejected)", r"address (not found|unknown|rejected)", r"unknown (or illegal )?"
                            r"(alias|recipient|address|mailbox)", r"illegal alias", r"not a valid (mailbox|recipient|"
                            r"user)", r"recipientnotfound", r"wasn'?t found at", r"unknown local.?part",
                            r"is unavailable: user")),
    (CONNECTION_FAILED, _phrases(r"connection (timed out|refused|reset|died|lost)", r"no route to host",
                                 r"read error", r"lost connection", r"network is unreachable", r"timed out")),
)
_ENHANCED = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC = re.compile(r"(?<![\d.#-])([45])\d\d(?=[ \-:]|$)", re.MULTILINE)


@dataclass(frozen=True)
class Reading:
    """What a reply or report says: every reason it gives, and whether it is permanent (None: it does not say)."""

    reasons: tuple[Reason, ...]
    permanent: bool | None


def enhanced_codes(text: str) -> list[str]:
    """The enhanced status codes written in ``text`` (``5.1.1``…), in order."""
    return [".".join(m.groups()) for m in _ENHANCED.finditer(text)]


def basic_codes(text: str) -> list[str]:
    """The three-digit SMTP reply codes written in ``text`` (``550``…), in order."""
    return [m.group() for m in _BASIC.finditer(text)]


def of_code(code: str) -> Reason | None:
    """The reason an enhanced code names on its own, or None when its text must decide."""
    klass, _, rest = code.partition(".")
    if klass == "4" and rest in _TEMPORARY_CODES:
        return _TEMPORARY_CODES[rest]
    return _CODES.get(rest)


def in_text(text: str) -> list[Reason]:
    """The reasons whose phrases occur in ``text``, most specific first."""
    found = [reason for reason, pattern in _PHRASES if pattern.search(text)]
    return sorted(found, key=_RANK.__getitem__)


def best(reasons: list[Reason]) -> Reason | None:
    """The most specific of several reasons (None for none)."""
    return min(reasons, key=_RANK.__getitem__) if reasons else None


def decide(reasons: list[Reason], permanent: bool | None) -> tuple[bool, Reason]:
    """Hard or soft, and the reason named, from all the reasons a report gives and its class.

    A soft reason anywhere wins: it says the receiver refused for something other than the
    address, and taking it for hard would stop mail to a reader who is still there. A temporary
    failure is never hard; a permanent one with no reason is (the receiver said the address fails).

    :param permanent: the report's class: True for 5.x.x, False for 4.x.x, None when it gives none.
    :return: (hard, reason).
    """
    specific = [r for r in reasons if not r.generic]
    soft = [r for r in specific if not r.hard]
    hard = [r for r in specific if r.hard]
    if permanent is False:
        return False, best(soft) or best(hard) or TEMPORARY
    if soft:
        return False, best(soft) or TEMPORARY
    if hard:
        return True, best(hard) or PERMANENT
    return True, PERMANENT


def read_reply(text: str, *, status: str = "") -> Reading:
    """The reason and class of one receiver's reply (a DSN's Diagnostic-Code, a provider's SMTP response),
    with ``status`` the report's own enhanced code when it gives one."""
    codes = ([status] if status else []) + enhanced_codes(text)
    basics = basic_codes(text)
    permanent: bool | None = None
    for code in codes:
        if not code.endswith(".0.0"):
            permanent = code.startswith("5")
            break
    if permanent is None and codes:
        permanent = codes[0].startswith("5")
    if permanent is None and basics:
        permanent = basics[0].startswith("5")
    found = [r for r in (of_code(c) for c in codes) if r is not None] + in_text(text)
    return Reading(tuple(found), permanent)


__all__ = ["Reason", "Reading", "TABLE", "basic_codes", "best", "decide", "enhanced_codes", "in_text", "of_code",
           "read_reply"]
