"""Strict fakes of the mail APIs: real HTTP servers on 127.0.0.1 that hold each provider to its contract.

Each fake checks what the real API checks (method, path, key, content type, required
fields, batch limits, header shapes), answers with the provider's real success and error
bodies, and performs the provider's own per-recipient substitution, so that a test sees
the messages exactly as recipients would. ``script`` queues faults for the next calls:
an error answer, an answer that is not the provider's after accepting (a proxy's page, a cut
body), a delay after accepting (the client times out, the messages went out), or a connection
reset after accepting.

Each fake also serves the provider's record of what it took, as the provider documents it:
Mailgun's events (``GET /v3/{domain}/events``), Postmark's outbound message search (``GET
/messages/outbound``), Brevo's event report (``GET /v3/smtp/statistics/events``) and SendGrid's Email
Activity API (``GET /v3/messages``, only with ``activity_addon``). ``lookup_available = False`` makes
it answer as the provider does when it cannot; ``event_delay`` holds a message out of the records
for that many seconds after it was accepted (providers index them late). A fault's ``hold`` keeps the call
waiting (before a refusal, or after accepting) until the test lets it go: a test kills the client while its
call is surely at the provider.
Sources: ../shared/reference/mail-apis.md and the providers' documentation.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from email.header import decode_header, make_header
from email.utils import getaddresses
from typing import Any, Callable, Iterable
from urllib.parse import quote
from zoneinfo import ZoneInfo

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

KEY = "test-api-key-0123456789"
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request is noise here


@dataclass
class Delivered:
    """One message as its recipient gets it."""

    to: str
    name: str
    subject: str
    html: str
    text: str
    headers: dict[str, str]
    provider_id: str
    #: The custom variables the provider returns with each webhook event about this message
    #: (Mailgun ``v:``, SendGrid ``custom_args``, Postmark ``Metadata``, Brevo ``X-Mailin-custom``).
    metadata: dict[str, str] = field(default_factory=dict)
    #: When the provider accepted it (its own clock), and the call's subject.
    at: float = field(default_factory=time.time)


@dataclass
class Fault:
    """What the fake does on the next call instead of (or after) its normal work."""

    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # accept and deliver, then wait this long (or until the fake stops) before answering
    #: Accept and deliver, then answer with ``status``/``body``/``headers`` instead (a proxy's page, a cut body).
    after_accepting: bool = False
    #: Accept and deliver, then reset the connection without answering.
    reset: bool = False
    #: Wait on it before answering: before a refusal (``status``: the call was never accepted), else after
    #: accepting. The call's recipients are known from then on.
    hold: "Hold | None" = None


@dataclass
class Hold:
    """A call held by the fake until :meth:`let_go`: ``reached`` is set once it is held, with its recipients."""

    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    recipients: list[str] = field(default_factory=list)

    def wait_reached(self, timeout: float) -> list[str]:
        """The held call's recipients' addresses, once it is held."""
        if not self.reached.wait(timeout):
            raise AssertionError(f"no call reached the fake's hold within {timeout:.0f} s")
        return self.recipients

    def let_go(self) -> None:
        self.release.set()

    def keep(self, request: Request, stopping: threading.Event) -> None:
        self.recipients[:] = [address for _, address in getaddresses(request.form.getlist("to"))]
        self.reached.set()
        while not (self.release.wait(0.05) or stopping.is_set()):
            pass


class Rejected(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


def _reset(environ: dict[str, Any]) -> None:
    """Close the request's connection with a reset, no answer written (SO_LINGER 0 sends RST)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("the fake's server does not expose the request's socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _name(value: str) -> str:
    return str(make_header(decode_header(value))) if "=?" in value else value


class FakeProvider:
    """A provider's API on 127.0.0.1 (subclasses implement :meth:`handle`)."""

    name = ""
    path = ""

    def __init__(self) -> None:
        self.inbox: list[Delivered] = []
        self.calls = 0
        self.accepted_calls = 0
        self.lookups = 0  # requests to the provider's records of what it took
        self.lookup_available = True
        self.event_delay = 0.0
        self.script: list[Fault] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()  # ends a delayed answer early: the fake is shutting down
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "FakeProvider":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.thread.join(timeout=10)

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        request.max_form_memory_size = 25 * 1024 * 1024  # Mailgun's 25 MB
        request.max_content_length = 60 * 1000 * 1000  # above Postmark's 50 MB, which its fake answers itself
        request.max_form_parts = 5000
        if request.method == "GET":
            with self.lock:
                self.lookups += 1
            try:
                response = self.look_up(request)
            except Rejected as rejected:
                response = rejected.response
            return response(environ, start_response)
        with self.lock:
            self.calls += 1
            fault = self.script.pop(0) if self.script else None
        try:
            if request.method != "POST":
                raise Rejected(Response("Method Not Allowed", status=405))
            self.check(request)
            if fault is not None and fault.status and not fault.after_accepting:
                if fault.hold is not None:
                    fault.hold.keep(request, self.stopping)
                response = self._faulty(fault)
            else:
                with self.lock:
                    response = self.handle(request)
                    self.accepted_calls += 1
                if fault is not None and fault.hold is not None:
                    fault.hold.keep(request, self.stopping)
                if fault is not None and fault.delay:
                    self.stopping.wait(fault.delay)
                if fault is not None and fault.after_accepting:
                    response = self._faulty(fault)
                if fault is not None and fault.reset:
                    _reset(environ)
                    return []
        except Rejected as rejected:
            response = rejected.response
        return response(environ, start_response)

    @staticmethod
    def _faulty(fault: Fault) -> Response:
        if isinstance(fault.body, str):
            return Response(fault.body, status=fault.status, headers=fault.headers)
        return _json(fault.status, fault.body, fault.headers)

    def visible(self) -> list[Delivered]:
        """The messages the provider's records show now (those accepted ``event_delay`` seconds ago or more)."""
        now = time.time()
        with self.lock:
            return [m for m in self.inbox if m.at + self.event_delay <= now]

    def look_up(self, request: Request) -> Response:
        """Answer a request to the provider's records (subclasses; raise :class:`Rejected`)."""
        raise Rejected(Response("Method Not Allowed", status=405))

    def check(self, request: Request) -> None:
        """Path and authentication (raise :class:`Rejected`)."""

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def by_recipient(self) -> dict[str, list[Delivered]]:
        out: dict[str, list[Delivered]] = {}
        for message in self.inbox:
            out.setdefault(message.to, []).append(message)
        return out


class FakeMailgun(FakeProvider):
    """Mailgun Messages API: multipart form, Basic api:KEY, ≤ 1,000 recipients, %recipient.x%."""

    name = "mailgun"
    domain = "mg.example.org"

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, dict[str, str]] = {}  # next-page token → the query it continues

    def check(self, request: Request) -> None:
        if request.path != f"/v3/{self.domain}/messages":
            raise Rejected(_json(404, {"message": f"Domain not found: {request.path.split('/')[2:3]}"}))
        expected = "Basic " + base64.b64encode(f"api:{KEY}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            raise Rejected(Response("Forbidden", status=401))
        if request.mimetype != "multipart/form-data":
            raise Rejected(_json(400, {"message": "expected multipart/form-data"}))

    def handle(self, request: Request) -> Response:
        form = request.form
        for required in ("from", "to", "subject"):
            if not form.get(required):
                raise Rejected(_json(400, {"message": f"'{required}' parameter is missing"}))
        if not (form.get("html") or form.get("text")):
            raise Rejected(_json(400, {"message": "Need at least one of 'text' or 'html' parameters specified"}))
        to = form.getlist("to")
        if len(to) > 1000:
            raise Rejected(_json(400, {"message": "Too many recipients. The maximum is 1000"}))
        addresses = getaddresses(to)
        if any("@" not in address for _, address in addresses):
            raise Rejected(_json(400, {"message": "to parameter is not a valid address. please check documentation"}))
        variables: dict[str, dict[str, str]] = {}
        if "recipient-variables" in form:
            try:
                variables = json.loads(form["recipient-variables"])
            except ValueError:
                raise Rejected(_json(400, {"message": "recipient-variables parameter is not a valid JSON"})) from None
        message_id = f"<{uuid.uuid4().hex}@{self.domain}>"
        headers = {key[2:]: value for key, value in form.items() if key.startswith("h:")}
        if not variables:  # Mailgun then sends one message to everybody, every address visible
            addresses = [(", ".join(n for n, _ in addresses), ", ".join(a for _, a in addresses))]

        def fill(text: str, values: dict[str, str]) -> str:
            return re.sub(r"%recipient\.([\w-]+)%", lambda m: str(values.get(m.group(1), m.group(0))), text)

        custom = {key[2:]: value for key, value in form.items() if key.startswith("v:")}
        for name, address in addresses:
            values = variables.get(address, {})
            self.inbox.append(Delivered(
                address, _name(name), fill(form["subject"], values), fill(form.get("html", ""), values),
                fill(form.get("text", ""), values), {k: fill(v, values) for k, v in headers.items()}, message_id,
                {k: fill(v, values) for k, v in custom.items()}))
        return _json(200, {"id": message_id, "message": "Queued. Thank you."})

    def look_up(self, request: Request) -> Response:
        """``GET /v3/{domain}/events``: a time range (``begin`` and ``end``, or ``ascending``), ``limit`` ≤ 300,
        filters such as ``event``; a page of events, oldest first, with the URL of the next page."""
        base = f"/v3/{self.domain}/events"
        if request.path != base and not request.path.startswith(base + "/"):
            raise Rejected(_json(404, {"message": "not found"}))
        expected = "Basic " + base64.b64encode(f"api:{KEY}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            raise Rejected(Response("Forbidden", status=401))
        if not self.lookup_available:
            raise Rejected(_json(500, {"message": "Internal Server Error"}))
        if request.path != base:  # a next-page URL: the query it stands for
            with self.lock:
                query = self.pages.get(request.path[len(base) + 1:])
            if query is None:
                raise Rejected(_json(404, {"message": "page not found"}))
        else:
            query = dict(request.args)
        try:
            begin = float(query["begin"])
            end = float(query["end"]) if "end" in query else float("inf")
            limit = int(query.get("limit", "100"))
        except (KeyError, ValueError):
            raise Rejected(_json(400, {"message": "begin (and end or ascending) must be given as epoch seconds"})) \
                from None
        if "end" not in query and query.get("ascending") not in ("yes", "no"):
            raise Rejected(_json(400, {"message": "ascending must be yes or no when end is not given"}))
        if not 0 < limit <= 300:
            raise Rejected(_json(400, {"message": "limit must be at most 300"}))
        wanted = query.get("event")
        # A filter expression of alternatives ("a OR b"), as Mailgun's filter fields take.
        recipients = {r.strip() for r in query["recipient"].split(" OR ")} if "recipient" in query else None
        offset = int(query.get("_offset", "0"))
        events = [{"event": "accepted", "id": uuid.uuid5(uuid.NAMESPACE_URL, m.provider_id + m.to).hex[:22],
                   "timestamp": m.at, "recipient": m.to, "log-level": "info",
                   "message": {"headers": {"message-id": m.provider_id.strip("<>"), "to": m.to, "subject": m.subject}},
                   "user-variables": dict(m.metadata)}
                  for m in self.visible() if begin <= m.at <= end and (recipients is None or m.to in recipients)]
        events = [e for e in events if wanted in (None, e["event"])]
        token = uuid.uuid4().hex
        with self.lock:
            self.pages[token] = {**query, "_offset": str(offset + limit)}
        return _json(200, {"items": events[offset:offset + limit],
                           "paging": {"next": f"http://127.0.0.1:{self.port}{base}/{token}",
                                      "previous": f"http://127.0.0.1:{self.port}{base}/{token}p"}})


_SENDGRID_RESERVED = {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
                      "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}


class FakeSendGrid(FakeProvider):
    """SendGrid v3 Mail Send: JSON, Bearer key, ≤ 1,000 personalizations and recipients, substitutions."""

    name = "sendgrid"

    def __init__(self) -> None:
        super().__init__()
        self.dropped: list[str] = []  # accepted, never delivered
        self.activity_addon = True  # the Email Activity API is a paid add-on

    _QUERY = re.compile(r'subject="((?:[^"\\]|\\.)*)" AND '
                        r'last_event_time BETWEEN TIMESTAMP "([^"]+)" AND TIMESTAMP "([^"]+)"')

    def look_up(self, request: Request) -> Response:
        """``GET /v3/messages?limit=N&query=…``: at most ``limit`` (≤ 1,000) messages, no pages; this fake reads
        the query the adapter writes (subject and a last_event_time range) and refuses any other."""
        if request.path != "/v3/messages":
            raise Rejected(_json(404, {"errors": [{"message": "not found", "field": None}]}))
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            raise self.error("The provided authorization grant is invalid, expired, or revoked", 401)
        if not (self.activity_addon and self.lookup_available):
            raise self.error("access forbidden", 403)
        try:
            limit = int(request.args["limit"])
        except (KeyError, ValueError):
            raise self.error("limit is required", field_name="limit") from None
        if not 1 <= limit <= 1000:
            raise self.error("limit must be between 1 and 1000", field_name="limit")
        match = self._QUERY.fullmatch(request.args.get("query", ""))
        if match is None:
            raise self.error("invalid query", field_name="query")
        subject = re.sub(r"\\(.)", r"\1", match.group(1))
        begin, end = (datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for t in match.groups()[1:])
        messages = [{"from_email": "redaction@example.org", "msg_id": f"{m.provider_id}.filterdrecv-5645d9c87f-1.0",
                     "subject": m.subject, "to_email": m.to, "status": "delivered", "opens_count": 0,
                     "clicks_count": 0, "last_event_time": datetime.fromtimestamp(m.at, timezone.utc).strftime(
                         "%Y-%m-%dT%H:%M:%SZ")}
                    for m in self.visible() if m.subject == subject and begin <= int(m.at) <= end]
        return _json(200, {"messages": messages[:limit]})

    @staticmethod
    def error(message: str, status: int = 400, field_name: str | None = None) -> Rejected:
        return Rejected(_json(status, {"errors": [{"message": message, "field": field_name, "help": None}]}))

    def check(self, request: Request) -> None:
        if request.path != "/v3/mail/send":
            raise Rejected(_json(404, {"errors": [{"message": "not found", "field": None, "help": None}]}))
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            raise self.error("The provided authorization grant is invalid, expired, or revoked", 401)
        if request.mimetype != "application/json":
            raise self.error("Content-Type should be application/json.", 415)

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise self.error("Bad Request", field_name=None)
        personalizations = body.get("personalizations") or []
        if not personalizations:
            raise self.error("You must have at least one personalization.", field_name="personalizations")
        if len(personalizations) > 1000:
            raise self.error("The personalization block is limited to 1000 personalizations per API request. "
                             f"You have provided {len(personalizations)} personalizations.", field_name="personalizations")
        seen: set[str] = set()
        for p in personalizations:
            if not p.get("to"):
                raise self.error("The to array is required for all personalization objects, and must have at "
                                 "least one email object with a valid email address.", field_name="personalizations.to")
            for contact in p["to"] + p.get("cc", []) + p.get("bcc", []):
                address = str(contact.get("email", "")).lower()
                if address in seen:
                    raise self.error("Each email address in the personalization block should be unique between "
                                     "to, cc, and bcc.", field_name="personalizations.to")
                seen.add(address)
            for name, value in (p.get("headers") or {}).items():
                if name.lower() in _SENDGRID_RESERVED or not isinstance(value, str):
                    raise self.error(f"The header {name} is reserved or not a string.", field_name="headers")
            if len(json.dumps(p.get("substitutions") or {}).encode()) > 10000:
                raise self.error("substitutions must total less than 10,000 bytes", field_name="substitutions")
            custom = {**(body.get("custom_args") or {}), **(p.get("custom_args") or {})}
            if not all(isinstance(v, str) for v in custom.values()):
                raise self.error("custom_args values must be strings", field_name="personalizations.custom_args")
            if len(json.dumps(custom).encode()) > 10000:
                raise self.error("custom_args must total less than 10,000 bytes", field_name="custom_args")
        if len(seen) > 1000:
            raise self.error("There is a limit of 1000 total recipients (to + cc + bcc) per request.")
        if not (body.get("from") or {}).get("email"):
            raise self.error("The from object must be provided for every email send.", field_name="from")
        content = body.get("content") or []
        types = [c.get("type") for c in content]
        if not content or any(not c.get("value") for c in content):
            raise self.error("Unless a valid template_id is provided, the content parameter is required.",
                             field_name="content")
        if "text/plain" in types and types.index("text/plain") != 0:
            raise self.error("If present, text/plain and text/html may only be provided in this order.",
                             field_name="content")
        for name in body.get("headers") or {}:
            if name.lower() in _SENDGRID_RESERVED:
                raise self.error(f"The header {name} is reserved.", field_name="headers")
        message_id = uuid.uuid4().hex[:22]
        for p in personalizations:
            subject = p.get("subject") or body.get("subject")
            if not subject:
                raise self.error("The subject is required.", field_name="subject")
            subs = p.get("substitutions") or {}

            def fill(text: str) -> str:
                for key, value in subs.items():
                    text = text.replace(key, value)
                return text

            by_type = {c["type"]: fill(c["value"]) for c in content}
            headers = {**(body.get("headers") or {}), **(p.get("headers") or {})}
            for contact in p["to"]:
                if not contact["email"].rpartition("@")[0].isascii():
                    # SendGrid accepts the call, then drops a non-ASCII local part as "Invalid" (its
                    # maintainers: unsupported; sendgrid-csharp#656, sendgrid-python#119).
                    self.dropped.append(contact["email"])
                    continue
                self.inbox.append(Delivered(contact["email"], contact.get("name", ""), fill(subject),
                                            by_type.get("text/html", ""), by_type.get("text/plain", ""), headers,
                                            message_id, {**(body.get("custom_args") or {}),
                                                         **(p.get("custom_args") or {})}))
        return Response("", status=202, headers={"X-Message-Id": message_id})


class FakePostmark(FakeProvider):
    """Postmark /email/batch: JSON array of ≤ 500 messages, server token, per-message ErrorCode."""

    name = "postmark"

    def __init__(self) -> None:
        super().__init__()
        self.inactive: set[str] = set()
        self.streams: dict[str, str] = {}  # MessageID → its stream

    def look_up(self, request: Request) -> Response:
        """``GET /messages/outbound``: ``count`` (≤ 500) and ``offset`` required, count + offset ≤ 10,000;
        filters ``recipient``, ``tag``, ``messagestream``, ``fromdate``/``todate`` (US Eastern time),
        ``metadata_NAME``; newest first, with ``TotalCount``."""
        if request.path != "/messages/outbound":
            raise Rejected(_json(404, {"ErrorCode": 404, "Message": "Not found"}))
        if request.headers.get("X-Postmark-Server-Token") != KEY:
            raise Rejected(_json(401, {"ErrorCode": 10, "Message": "The Server Token you provided was invalid."}))
        if "application/json" not in request.headers.get("Accept", ""):
            raise Rejected(_json(415, {"ErrorCode": 415, "Message": "Accept must be application/json"}))
        if not self.lookup_available:
            raise Rejected(_json(500, {"ErrorCode": 500, "Message": "Internal Server Error"}))
        try:
            count, offset = int(request.args["count"]), int(request.args["offset"])
        except (KeyError, ValueError):
            raise Rejected(_json(422, {"ErrorCode": 600, "Message": "count and offset are required"})) from None
        if not 0 < count <= 500 or offset < 0 or count + offset > 10_000:
            raise Rejected(_json(422, {"ErrorCode": 601, "Message": "count must be at most 500 and count + offset "
                                       "at most 10000"}))
        eastern = ZoneInfo("America/New_York")

        def moment(name: str) -> float | None:
            value = request.args.get(name)
            return datetime.fromisoformat(value).replace(tzinfo=eastern).timestamp() if value else None

        start, stop = moment("fromdate"), moment("todate")
        stream = request.args.get("messagestream")
        metadata = {k[len("metadata_"):]: v for k, v in request.args.items() if k.startswith("metadata_")}
        chosen = [m for m in reversed(self.visible())
                  if (start is None or m.at >= start) and (stop is None or m.at <= stop + 1)
                  and (stream is None or self.streams.get(m.provider_id) == stream)
                  and all(m.metadata.get(k) == v for k, v in metadata.items())]
        return _json(200, {"TotalCount": len(chosen), "Messages": [
            {"MessageID": m.provider_id, "To": [{"Email": m.to, "Name": m.name or None}], "Recipients": [m.to],
             "Subject": m.subject, "Status": "Sent", "MessageStream": self.streams.get(m.provider_id, ""),
             "ReceivedAt": datetime.fromtimestamp(m.at, eastern).isoformat(), "Metadata": dict(m.metadata)}
            for m in chosen[offset:offset + count]]})

    def check(self, request: Request) -> None:
        if request.path != "/email/batch":
            raise Rejected(_json(404, {"ErrorCode": 404, "Message": "Not found"}))
        if request.headers.get("X-Postmark-Server-Token") != KEY:
            raise Rejected(_json(401, {"ErrorCode": 10, "Message": "The Server Token you provided in the "
                                       "X-Postmark-Server-Token request header was invalid."}))
        if request.mimetype != "application/json" or "application/json" not in request.headers.get("Accept", ""):
            raise Rejected(_json(415, {"ErrorCode": 415, "Message": "Accept and Content-Type must be application/json"}))
        if (request.content_length or 0) > 50_000_000:
            raise Rejected(_json(413, {"ErrorCode": 413, "Message": "Request too large"}))

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, list) or not body:
            raise Rejected(_json(422, {"ErrorCode": 402, "Message": "Received invalid JSON input."}))
        if len(body) > 500:
            raise Rejected(_json(422, {"ErrorCode": 300, "Message": "Too many messages in batch: the limit is 500."}))
        answers = []
        for message in body:
            for required in ("From", "To"):
                if not message.get(required):
                    raise Rejected(_json(422, {"ErrorCode": 300, "Message": f"Invalid '{required}' address."}))
            if not (message.get("HtmlBody") or message.get("TextBody")):
                raise Rejected(_json(422, {"ErrorCode": 300, "Message": "Provide either email TextBody or HtmlBody or both."}))
            headers = message.get("Headers") or []
            if not all(isinstance(h, dict) and set(h) == {"Name", "Value"} for h in headers):
                raise Rejected(_json(422, {"ErrorCode": 300, "Message": "Headers must be a list of {Name, Value}."}))
            metadata = message.get("Metadata") or {}
            # Postmark: at most 10 metadata fields, names of at most 20 characters, values of at most 80.
            if not isinstance(metadata, dict) or len(metadata) > 10 or not all(
                    isinstance(k, str) and 0 < len(k) <= 20 and isinstance(v, str) and len(v) <= 80
                    for k, v in metadata.items()):
                raise Rejected(_json(422, {"ErrorCode": 300, "Message": "Invalid metadata: at most 10 fields, names "
                                           "of at most 20 characters and values of at most 80."}))
            name, address = getaddresses([message["To"]])[0]
            if address in self.inactive:
                answers.append({"ErrorCode": 406, "Message": "You tried to send to recipient(s) that have been "
                                "marked as inactive.", "To": message["To"]})
                continue
            message_id = str(uuid.uuid4())
            self.streams[message_id] = message.get("MessageStream") or "outbound"
            self.inbox.append(Delivered(address, _name(name), message.get("Subject", ""), message.get("HtmlBody", ""),
                                        message.get("TextBody", ""), {h["Name"]: h["Value"] for h in headers},
                                        message_id, dict(metadata)))
            answers.append({"ErrorCode": 0, "Message": "OK", "MessageID": message_id,
                            "SubmittedAt": "2026-11-24T07:00:00Z", "To": message["To"]})
        return _json(200, answers)


class FakeBrevo(FakeProvider):
    """Brevo /v3/smtp/email: api-key header, ≤ 1,000 messageVersions, {{ params.x }}, idempotencyKey."""

    name = "brevo"

    def __init__(self) -> None:
        super().__init__()
        self.seen_keys: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, list[str]] = {}  # message id → its tags

    #: The account's time zone, in which Brevo's report reads and writes dates.
    ZONE = ZoneInfo("Europe/Paris")
    EVENTS = ("bounces", "hardBounces", "softBounces", "delivered", "spam", "requests", "opened", "clicks",
              "invalid", "deferred", "blocked", "unsubscribed", "error", "loadedByProxy")

    def look_up(self, request: Request) -> Response:
        """``GET /v3/smtp/statistics/events``: ``limit`` (≤ 5,000, default 2,500) and ``offset``, ``startDate`` and
        ``endDate`` together (days in the account's time zone, at most 90 days) or ``days``; filters ``event``,
        ``email``, ``messageId``, ``tags``; ``sort`` asc or desc. Each message accepted is a ``requests`` event."""
        if request.path != "/v3/smtp/statistics/events":
            raise Rejected(_json(404, {"code": "not_found", "message": "Invalid route"}))
        if request.headers.get("api-key") != KEY:
            raise Rejected(_json(401, {"code": "unauthorized", "message": "Key not found"}))
        if not self.lookup_available:
            raise Rejected(_json(500, {"code": "internal_error", "message": "Internal server error"}))
        args = request.args
        try:
            limit, offset = int(args.get("limit", "2500")), int(args.get("offset", "0"))
            first = date.fromisoformat(args["startDate"]) if "startDate" in args else None
            last = date.fromisoformat(args["endDate"]) if "endDate" in args else None
        except ValueError:
            raise Rejected(_json(400, {"code": "invalid_parameter", "message": "invalid limit, offset or date"})) \
                from None
        if not 0 <= limit <= 5000 or offset < 0:
            raise Rejected(_json(400, {"code": "invalid_parameter", "message": "limit must be at most 5000"}))
        if (first is None) != (last is None) or (first and last and (first > last or (last - first).days > 90)):
            raise Rejected(_json(400, {"code": "invalid_parameter",
                                       "message": "startDate and endDate go together, within 90 days"}))
        if args.get("event") and args["event"] not in self.EVENTS:
            raise Rejected(_json(400, {"code": "invalid_parameter", "message": "event is not valid"}))
        if args.get("sort", "desc") not in ("asc", "desc"):
            raise Rejected(_json(400, {"code": "invalid_parameter", "message": "sort must be asc or desc"}))
        events = []
        for m in self.visible():
            when = datetime.fromtimestamp(m.at, self.ZONE)
            if (first and last and not first <= when.date() <= last) or args.get("event") not in (None, "requests") \
                    or args.get("email") not in (None, m.to) or args.get("messageId") not in (None, m.provider_id) \
                    or ("tags" in args and args["tags"] not in self.tags.get(m.provider_id, [])):
                continue
            events.append({"email": m.to, "date": when.isoformat(timespec="milliseconds"), "subject": m.subject,
                           "messageId": m.provider_id, "event": "requests", "from": "redaction@example.org",
                           **({"tag": self.tags[m.provider_id][0]} if self.tags.get(m.provider_id) else {})})
        if args.get("sort", "desc") == "desc":
            events.reverse()
        page = events[offset:offset + limit]
        return _json(200, {"events": page} if page else {})

    def check(self, request: Request) -> None:
        if request.path != "/v3/smtp/email":
            raise Rejected(_json(404, {"code": "not_found", "message": "Invalid route"}))
        if request.headers.get("api-key") != KEY:
            raise Rejected(_json(401, {"code": "unauthorized", "message": "Key not found"}))
        if request.mimetype != "application/json":
            raise Rejected(_json(400, {"code": "invalid_parameter", "message": "Content-Type must be application/json"}))

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise Rejected(_json(400, {"code": "bad_request", "message": "Input must be a valid JSON object"}))
        key = (body.get("headers") or {}).get("idempotencyKey")
        if key and key in self.seen_keys:
            return _json(201, self.seen_keys[key])
        if not (body.get("sender") or {}).get("email"):
            raise Rejected(_json(400, {"code": "missing_parameter", "message": "sender is missing"}))
        if not body.get("subject"):
            raise Rejected(_json(400, {"code": "missing_parameter", "message": "subject is missing"}))
        if not (body.get("htmlContent") or body.get("textContent")):
            raise Rejected(_json(400, {"code": "missing_parameter", "message": "htmlContent is not valid"}))
        versions = body.get("messageVersions")
        if versions is None:
            versions = [{"to": body.get("to") or []}]
        if len(versions) > 1000:
            raise Rejected(_json(400, {"code": "invalid_parameter",
                                       "message": "messageVersions: maximum 1000 versions per request"}))
        ids = []
        for version in versions:
            if not version.get("to"):
                raise Rejected(_json(400, {"code": "missing_parameter", "message": "messageVersions.to is missing"}))
            params = {**(body.get("params") or {}), **(version.get("params") or {})}

            def fill(text: str) -> str:
                return re.sub(r"\{\{\s*params\.(\w+)\s*\}\}", lambda m: str(params.get(m.group(1), "")), text)

            headers = {**(body.get("headers") or {}), **(version.get("headers") or {})}
            headers.pop("idempotencyKey", None)
            if not all(isinstance(v, str) for v in headers.values()):
                raise Rejected(_json(400, {"code": "invalid_parameter", "message": "headers values must be strings"}))
            custom = {"X-Mailin-custom": headers["X-Mailin-custom"]} if "X-Mailin-custom" in headers else {}
            message_id = f"<{uuid.uuid4().hex}@smtp-relay.mailin.fr>"
            ids.append(message_id)
            self.tags[message_id] = list(body.get("tags") or [])
            for contact in version["to"]:
                self.inbox.append(Delivered(
                    contact["email"], _name(contact.get("name", "")), fill(version.get("subject") or body["subject"]),
                    fill(version.get("htmlContent") or body.get("htmlContent", "")),
                    fill(version.get("textContent") or body.get("textContent", "")), headers, message_id, custom))
        answer: dict[str, Any] = {"messageIds": ids} if "messageVersions" in body else {"messageId": ids[0]}
        if key:
            self.seen_keys[key] = answer
        return _json(201, answer)


FAKES: dict[str, type[FakeProvider]] = {f.name: f for f in (FakeMailgun, FakeSendGrid, FakePostmark, FakeBrevo)}
LIMITS = {"mailgun": 1000, "sendgrid": 1000, "postmark": 500, "brevo": 1000}


#: The adapters' read timeout against a fake: far longer than a loaded machine takes to answer a
#: 1,000-recipient call, so that only a test about timeouts (which sets its own) ever meets one.
TIMEOUT = 120


def api_config(adapter: str, base_url: str, **extra: object) -> str:
    """The ``[delivery]`` tables that point ``adapter`` at a fake."""
    table = {"base_url": base_url, "timeout": TIMEOUT, **extra}
    if adapter == "mailgun":
        table.setdefault("domain", FakeMailgun.domain)
    lines = [f'adapter = "{adapter}"', "rate_per_second = 100000", "", f"[delivery.{adapter}]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def environment(adapter: str) -> dict[str, str]:
    variable = {"mailgun": "MAILGUN_API_KEY", "sendgrid": "SENDGRID_API_KEY", "postmark": "POSTMARK_SERVER_TOKEN",
                "brevo": "BREVO_API_KEY"}[adapter]
    return {variable: KEY}
