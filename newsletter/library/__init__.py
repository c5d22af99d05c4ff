"""The public entry point: a :class:`Newsletter` holds one project's settings, store, secret key and
clock, and offers the operations every front end needs (the CLI, the scheduler, ``serve``, the desk).

Each operation returns a typed result and raises a :class:`~newsletter.errors.NewsletterError`
for the person who must act; nothing here prints, prompts or exits. The modules below
(content, render, store, delivery, schedule) do the work; this module only strings them together.

Example::

    from newsletter import Newsletter

    with Newsletter.open("ma-lettre") as nl:
        result = nl.check()
        if result.ok:
            nl.approve(by="Camille Martin")
            print(nl.send().counts)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, TextIO, TypeVar

from newsletter.config import SECRET_KEY_ENV, Settings, find_project, load_settings, secret_from_env
from newsletter.core.clock import Clock as Clock, utc_now  # Clock: what Newsletter(clock=...) takes
from newsletter.errors import BrokenTemplateError, ContentError, NewsletterError, UsageError

if TYPE_CHECKING:
    import threading
    from zoneinfo import ZoneInfo

    from newsletter.services.accounts import Account, Accounts
    from newsletter.content.approval import ApprovalState
    from newsletter.services.editing import Author, IssueDraft, Issues, ItemDraft, Placed, PreviewResult
    from newsletter.feedback.mail.process import Counts as BounceCounts
    from newsletter.services.build import BuildResult
    from newsletter.content.problems import Problem
    from newsletter.schedule.gate import DayState
    from newsletter.delivery.dkim import NewKey
    from newsletter.doctor import Finding
    from newsletter.library.web import Archive, Health, Subscriptions, Webhooks
    from newsletter.delivery.engine import ResendPlan, ResendReport, SendReport
    from newsletter.library.schedule import ScheduleOps
    from newsletter.schedule.gate import Readiness
    from newsletter.store.database import Store
    from newsletter.store.history import HistoryRow
    from newsletter.store.pauses import Pause
    from newsletter.store.resends import Resend
    from newsletter.store.workers import LiveWorker
    from newsletter.store.status import ReasonCount, UncertainRow
    from newsletter.store.subscribers import ImportSummary, SubscriberRecord

R = TypeVar("R")
_List = list  # ``Subscribers.list`` hides the builtin inside that class

#: Where ``Newsletter.open()`` looks for the project when no path is given (as ``--project`` does).
PROJECT_ENV = "NEWSLETTER_PROJECT"
#: Who approves when no name is given.
EDITOR_ENV = "NEWSLETTER_EDITOR"
#: The longest reason accepted for a send without approval.
REASON_MAX = 500
#: How many uncertain addresses ``status`` lists by default (its JSON form lists them all).
UNCERTAIN_SHOWN = 20


def refusal_for(settings: Settings, err: ContentError) -> NewsletterError:
    """The error to end on when the check fails: :class:`BrokenTemplateError` when a template is at
    fault, else ``err`` itself (both keep the problems)."""
    from newsletter.content.problems import errors

    templates = settings.templates_dir.resolve()
    for problem in errors(err.problems):
        path = problem.path.resolve()
        if path == templates or templates in path.parents:
            return BrokenTemplateError(problem.format(settings.root), err.problems,
                                       hint="fix the template, then run the command again")
    return err


def checked_address(text: str, label: str = "address") -> str:
    """An address typed by a person, in canonical form; ``label`` names the field in the error.

    :raises UsageError: when it is not a usable address.
    """
    from newsletter.core.addresses import canonical

    try:
        return canonical(text)
    except UsageError:
        raise
    except NewsletterError as err:
        raise UsageError(f"{label} {err}", hint=err.hint or "write a full address, e.g. camille@example.org") \
            from None


def checked_name(text: str, label: str) -> str:
    """A first or last name typed by a person: one line, 200 characters at most, cleaned as an import's.

    :raises UsageError: naming ``label``.
    """
    from newsletter.core.names import checked_name as check

    return check(text, label)


def checked_reason(text: str) -> str:
    """The reason given for a send without approval, on one line.

    :raises UsageError: when it is empty or longer than :data:`REASON_MAX` characters.
    """
    reason = " ".join(text.split())
    if not reason or len(reason) > REASON_MAX:
        raise UsageError(f"give the reason in one sentence ({REASON_MAX} characters at most), e.g. "
                         "--without-approval \"the editor is away; read by phone\"")
    return reason


def login_name(environ: Mapping[str, str] | None = None) -> str:
    """Who runs the program, as the system knows them (a container may have no name for the uid)."""
    import getpass

    env = os.environ if environ is None else environ
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # getpass's own order, read from ``environ``
        if env.get(variable):
            return env[variable]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def diagnose(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
             nameservers: Iterable[str] = (), timeout: float = 5.0, ca_file: Path | None = None) -> list["Finding"]:
    """``newsletter doctor``: the project's setup as receivers see it (DNS, https, one-click, secrets).

    The project need not load: a configuration error is the first finding, not an exception.
    """
    from newsletter.doctor import Network, diagnose as run

    root = Path(path) if path is not None else Path(os.environ.get(PROJECT_ENV) or find_project(Path.cwd()))
    return run(root, environ=os.environ if environ is None else environ,
               network=Network(nameservers=tuple(nameservers), timeout=timeout, ca_file=ca_file))


def make_dkim_key(selector: str, domain: str, kind: str, path: Path) -> "NewKey":
    """Create a DKIM private key at ``path`` (mode 0600, never overwritten) and the DNS record to publish."""
    from newsletter.delivery.dkim import keygen

    return keygen(selector, domain, kind, path)


def log_events_as_json(stream: TextIO) -> None:
    """Log as a long-running service does: one JSON object per line on ``stream`` (journald adds the
    time), the scheduler's and APScheduler's events at INFO, and a crashed thread as an error line."""
    from newsletter.core.logs import JsonLines, log_thread_crashes

    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    for root_handler in logging.getLogger().handlers:  # anything else that logs: JSON too
        root_handler.setFormatter(JsonLines())
    log_thread_crashes()
    for name in ("newsletter", "apscheduler"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


# -- results ------------------------------------------------------------------------------------


class Verdict(str, Enum):
    """What ``check`` concludes about an issue."""

    FAILING = "failing"
    READY = "ready"
    READY_TO_APPROVE = "ready to approve"
    APPROVAL_STALE = "approval stale"
    APPROVAL_UNREADABLE = "approval unreadable"


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found in one issue."""

    day: date
    folder: Path  # relative to the project
    problems: list["Problem"]
    items: int
    html_bytes: int  # size of the rendered HTML (0 when it could not render)
    approval: "ApprovalState"
    verdict: Verdict
    refusal: NewsletterError | None  # the error a front end ends on when the check fails
    sent_at: datetime | None = None  # when its first message went out: edits change nothing readers see

    @property
    def ok(self) -> bool:
        return self.verdict is not Verdict.FAILING

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    @property
    def warnings(self) -> int:
        return len(self.problems) - self.errors

    @property
    def summary(self) -> str:
        """"1 error, 2 warnings"."""
        n_err, n_warn = self.errors, self.warnings
        return f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"


@dataclass(frozen=True)
class SecretKey:
    """The key that signs unsubscribe and confirmation links, with the warning a weak one deserves."""

    value: str = field(repr=False)
    warning: str = ""  # set when a weak key is accepted only because nothing leaves the machine


@dataclass(frozen=True)
class SendClearance:
    """A send allowed to start: the approval as it stood, and who sent it without one (if anyone did)."""

    day: date
    approval: "ApprovalState"
    approval_required: bool
    override_by: str = ""  # recorded with the reason when the send goes out without a current approval
    override_needless: bool = False  # a reason was given although the approval is in order or not required


@dataclass(frozen=True)
class DryRunResult:
    """What a send would do now, without doing it."""

    day: date
    adapter: str
    recipients: int  # who would receive it now (within the limit)
    already_served: int
    sample: bytes  # one whole message, as the first recipient would get it
    sample_to: str
    approval: "ApprovalState"
    refused_until_approved: bool  # ``send`` would refuse it (approval required and not current)


@dataclass(frozen=True)
class ProofCopy:
    """One test copy's fate."""

    email: str
    ok: bool
    error: str = ""


@dataclass(frozen=True)
class Override:
    """A send made without a current approval: who, why, when."""

    by: str
    reason: str
    at: datetime | None


@dataclass(frozen=True)
class IssueStatus:
    """Where one issue stands: the send's figures, its problems, the approval and the schedule."""

    day: date
    tz: tzinfo  # the newsletter's time zone, for the times shown
    started_at: datetime | None  # None: never sent
    finished_at: datetime | None
    counts: dict[str, int]
    problems: list["ReasonCount"]
    approval: "ApprovalState"
    override: Override | None
    schedule: "DayState"
    figures: "HistoryRow | None" = None  # what came back: bounced, complained, unsubscribed (None: never sent)
    pauses: list["Pause"] = field(default_factory=list)  # the send's pauses, oldest first
    workers: list["LiveWorker"] = field(default_factory=list)  # the runs working on the send now
    #: The rows left uncertain (the first :data:`UNCERTAIN_SHOWN` unless asked for all; ``counts`` has their number).
    uncertain: list["UncertainRow"] = field(default_factory=list)
    resends: list["Resend"] = field(default_factory=list)  # the operators' resends of uncertain rows, oldest first

    @property
    def started(self) -> bool:
        return self.started_at is not None

    @property
    def pause(self) -> "Pause | None":
        """The pause the send is in now (it paused itself on too many hard bounces), if it is."""
        return self.pauses[-1] if self.pauses and self.pauses[-1].current else None

    @property
    def attention(self) -> str:
        """Why the operator should act now ("" when nothing is wrong)."""
        if self.pause is not None:
            return f"the send paused itself: {self.pause.reason}"
        return self.schedule.alarm

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``newsletter status --json``), times in the newsletter's zone."""
        def moment(value: datetime | None) -> str | None:
            return value.astimezone(self.tz).isoformat(timespec="seconds") if value else None

        state, approval, figures = self.schedule, self.approval, self.figures
        return {
            "date": self.day.isoformat(), "started": self.started, "counts": self.counts,
            "started_at": moment(self.started_at), "finished_at": moment(self.finished_at),
            "problems": [{"status": s, "reason": r, "count": n} for s, r, n in self.problems],
            "approval": {"state": approval.state, "by": approval.approved_by, "at": approval.approved_at,
                         "changed": approval.changed},
            "without_approval": {"by": self.override.by, "reason": self.override.reason,
                                 "at": moment(self.override.at)} if self.override else None,
            "schedule": {"state": state.dispatch or state.gate, "gate": state.gate, "reason": state.reason,
                         "due": moment(state.due), "dispatch": state.dispatch,
                         "dispatch_reason": state.dispatch_reason, "attention": state.alarm or None},
            "paused": {"at": moment(self.pause.paused_at), "reason": self.pause.reason,
                       "bounces": self.pause.bounces, "messages": self.pause.messages} if self.pause else None,
            "pauses": [{"at": moment(p.paused_at), "reason": p.reason, "resumed_at": moment(p.resumed_at)}
                       for p in self.pauses],
            "workers": [{"host": w.host, "pid": w.pid, "run": w.run_id, "messages": w.messages,
                         "rate": round(w.rate, 1), "renewed_at": moment(w.renewed_at),
                         "lease_expires_at": moment(w.expires_at)} for w in self.workers],
            "uncertain": [{"email": row.email, "reason": row.reason, "since": moment(row.since)}
                          for row in self.uncertain],
            "resends": [{"at": moment(r.at), "by": r.by, "rows": r.rows} for r in self.resends],
            "feedback": {"bounced": figures.bounced, "complained": figures.complained,
                         "unsubscribed": figures.unsubscribed, "complaint_rate": round(figures.complaint_rate, 6),
                         "complaint_rate_above_gmail_line": figures.complaints_too_high,
                         "bounce_reasons": [{"kind": b.kind, "reason": b.reason, "rows": b.rows}
                                            for b in figures.bounce_reasons]} if figures else None,
        }


@dataclass(frozen=True)
class UpcomingRun:
    """One due time of the schedule and the gate's verdict on that day's issue."""

    at: datetime
    readiness: "Readiness"


@dataclass(frozen=True)
class ScheduleView:
    """The schedule as ``schedule show`` lists it."""

    cron: str
    tz: "ZoneInfo"
    require_approval: bool
    grace_minutes: int
    upcoming: list[UpcomingRun]
    once: list[tuple[str, datetime | None]]  # one-off sends waiting: (name, when; None when paused)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    count: int


@dataclass(frozen=True)
class SubscriberChange:
    """A subscriber as an add or a remove left them."""

    record: "SubscriberRecord"
    created: bool = False


# -- the object ---------------------------------------------------------------------------------


class Newsletter:
    """One newsletter project: settings, store (opened on first use), secret key and clock.

    :param settings: the project's validated settings.
    :param store: an open store; by default the one ``[store] url`` names, opened when first needed.
    :param secret_key: the signing key; by default ``NEWSLETTER_SECRET_KEY`` read when first needed.
    :param environ: where secrets and names are read (default: the process environment).
    :param clock: the time now, aware (tests pin it).
    """

    def __init__(self, settings: Settings, *, store: "Store | None" = None, secret_key: str | None = None,
                 environ: Mapping[str, str] | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.clock: Clock = clock or utc_now
        self._store = store
        self._owns_store = False
        self._empty: "Store | None" = None  # what reading a project without a database sees
        self._secret_key = secret_key
        self.subscribers = Subscribers(self)
        self._subscriptions: "Subscriptions | None" = None
        self._archive: "Archive | None" = None

    @classmethod
    def open(cls, path: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
             clock: Clock | None = None) -> "Newsletter":
        """Open the project at ``path``; without one, ``$NEWSLETTER_PROJECT``, else the nearest folder
        at or above the current one that holds ``newsletter.toml``.

        :raises ConfigError: when there is no project or its configuration is invalid.
        """
        env = os.environ if environ is None else environ
        if path is None and env.get(PROJECT_ENV):
            path = env[PROJECT_ENV]
        root = Path(path) if path is not None else find_project(Path.cwd())
        return cls(load_settings(root), environ=environ, clock=clock)

    @staticmethod
    def create(directory: str | Path) -> list[Path]:
        """Create a working project in ``directory`` (config, templates, a sample issue, a CSV).

        :return: the files created.
        """
        from newsletter.services.scaffold import init_project

        return init_project(Path(directory))

    # -- the parts ------------------------------------------------------------------------------

    @property
    def subscriptions(self) -> "Subscriptions":
        """The public side of the list: double opt-in, one-click unsubscribe (the web service's)."""
        from newsletter.library.web import Subscriptions

        if self._subscriptions is None:
            self._subscriptions = Subscriptions(self)
        return self._subscriptions

    @property
    def archive(self) -> "Archive":
        """The public archive: sent issues, web versions (kept while their files stay), feed, images."""
        from newsletter.library.web import Archive

        if self._archive is None:
            self._archive = Archive(self)
        return self._archive

    def webhooks(self) -> "Webhooks":
        """The mail APIs' webhook events, verified and recorded (the providers of ``[webhooks]``).

        :raises ConfigError: when a configured secret is missing from the environment or unusable.
        """
        from newsletter.library.web import Webhooks

        return Webhooks.build(self)

    def health(self) -> "Health":
        """Whether the store answers (``/healthz``); a failure is the result, never an exception."""
        from newsletter.library.web import health

        return health(self)

    @property
    def users(self) -> "Accounts":
        """The desk's accounts (``newsletter users``, the desk's sign-in)."""
        from newsletter.services.accounts import Accounts

        return Accounts(lambda: self.store, self.clock)

    @property
    def issues(self) -> "Issues":
        """The issue folders as the desk edits them: versioned, atomic saves (see :mod:`newsletter.services.editing`)."""
        from newsletter.services.editing import Issues

        return Issues(self.settings, record=self.users.record_edit, create=self.new_issue)

    @property
    def store(self) -> "Store":
        """The store, created and migrated on first use."""
        from newsletter.store.database import open_store

        if self._store is None:
            self._store = open_store(self.settings.store.url, self.settings.root)
            self._owns_store = True
        return self._store

    def existing_store(self) -> "Store | None":
        """The store if the project has one already (reading never creates a database)."""
        from newsletter.store.database import open_existing_store

        if self._store is None:
            self._store = open_existing_store(self.settings.store.url, self.settings.root)
            self._owns_store = self._store is not None
        return self._store

    def reading_store(self) -> "Store":
        """The store for an operation that only reads: the project's, or, while its SQLite file does
        not exist yet, an empty one in memory (reading never creates a database)."""
        from newsletter.store.status import empty_store, no_database_yet

        if self._store is None and no_database_yet(self.settings.store.url, self.settings.root):
            if self._empty is None:
                self._empty = empty_store()
            return self._empty
        return self.store

    def secret_key(self, *, listen: str | None = None) -> SecretKey:
        """``NEWSLETTER_SECRET_KEY`` (or the key given), refused when short, repetitive or published.

        Only the demo's local outbox (nothing leaves the machine) accepts such a key, with a
        warning, and for the web service only while it listens on a loopback address (``listen``).

        :raises ConfigError: when the key is missing or weak.
        """
        from newsletter.delivery.base import is_loopback
        from newsletter.core.tokens import check_secret_key, key_weakness

        if self._secret_key is None:
            self._secret_key = secret_from_env(SECRET_KEY_ENV, purpose="key that signs unsubscribe links",
                                               environ=self.environ)
        key = self._secret_key
        local_demo = self.settings.delivery.adapter == "outbox" and (listen is None or is_loopback(listen))
        check_secret_key(key, SECRET_KEY_ENV, local_demo=local_demo)
        weakness = key_weakness(key) if local_demo else ""
        warning = (f"{SECRET_KEY_ENV} {weakness}; accepted only because the outbox adapter delivers nothing"
                   if weakness else "")
        return SecretKey(key, warning)

    def today(self) -> date:
        """Today in the newsletter's time zone: the default issue date."""
        return self.settings.today(self.clock())

    def close(self) -> None:
        """Close the store this object opened (a store passed in stays open)."""
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None
        if self._empty is not None:
            self._empty.close()
            self._empty = None

    def __enter__(self) -> "Newsletter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _day(self, day: date | None) -> date:
        return day or self.today()

    def _checked(self, action: Callable[[], R]) -> R:
        """Run ``action``; a check failing on a broken template ends as a configuration error."""
        try:
            return action()
        except ContentError as err:
            raise refusal_for(self.settings, err) from None

    # -- composing --------------------------------------------------------------------------------

    def new_issue(self, day: date | None = None) -> list[Path]:
        """Create ``issues/DATE`` with ``issue.yaml`` and one stub per item; returns the files."""
        from newsletter.services.scaffold import new_issue

        return new_issue(self.settings.issues_dir, self._day(day), self.settings.newsletter.items_per_issue)

    def check(self, day: date | None = None) -> CheckResult:
        """Run every check on the issue (never creates a database).

        :raises IssueNotFoundError: when the issue folder does not exist.
        """
        from newsletter.content.approval import approval_state
        from newsletter.services.check import check_issue

        settings, day = self.settings, self._day(day)
        report = check_issue(settings, day, store=self.existing_store())
        sent_at = self.sent_at(day)
        approval = approval_state(report.issue.folder)
        folder = report.issue.folder.relative_to(settings.root)
        size = len(report.rendered.html.encode()) if report.rendered else 0
        refusal: NewsletterError | None = None
        if not report.ok:
            verdict = Verdict.FAILING
        elif approval.state == "stale":
            verdict = Verdict.APPROVAL_STALE
        elif approval.state == "unreadable":
            verdict = Verdict.APPROVAL_UNREADABLE
        elif settings.schedule.require_approval and not approval.current:
            verdict = Verdict.READY_TO_APPROVE
        else:
            verdict = Verdict.READY
        result = CheckResult(day, folder, report.problems, len(report.issue.items), size, approval, verdict, None,
                             sent_at)
        if not report.ok:
            refusal = refusal_for(settings, ContentError(f"{folder}: {result.summary}", report.problems,
                                                         hint="fix the lines above, then run the check again"))
            result = CheckResult(day, folder, report.problems, len(report.issue.items), size, approval, verdict,
                                 refusal, sent_at)
        return result

    def sent_at(self, day: date | None = None) -> datetime | None:
        """When the issue's first message went out (None while none has): from then on, an edit of its
        files changes neither what readers got nor its page in the public archive."""
        from newsletter.store.archive import first_sent_at

        store = self.existing_store()
        return first_sent_at(store, self._day(day)) if store is not None else None

    def build(self, day: date | None = None) -> "BuildResult":
        """Check and render the issue into ``out/DATE/`` (email.html, email.txt, sample.eml).

        :raises ContentError: (with ``problems``) when the check fails; nothing is written.
        :raises BrokenTemplateError: when a template is at fault.
        """
        from newsletter.services.build import build_issue

        day = self._day(day)
        return self._checked(lambda: build_issue(self.settings, day))

    def approval(self, day: date | None = None) -> "ApprovalState":
        """Where the issue's approval stands (missing, current, stale, unreadable)."""
        from newsletter.content.approval import approval_state
        from newsletter.content.load import issue_folder

        return approval_state(issue_folder(self.settings.issues_dir, self._day(day)))

    def approve(self, day: date | None = None, *, by: str | None = None) -> "ApprovalState":
        """Approve the issue as it is now (any later edit makes the approval stale).

        :param by: who approves; default ``$NEWSLETTER_EDITOR``, else the login name.
        :raises ContentError: (with ``problems``) when the issue does not pass the check.
        """
        from newsletter.content.approval import approve
        from newsletter.render import checked
        from newsletter.render.web_version import public_page
        from newsletter.services.check import check_issue

        settings, day = self.settings, self._day(day)
        key = checked.inputs_digest(settings, day)
        report = check_issue(settings, day)
        if not report.ok or report.rendered is None:
            raise refusal_for(settings, ContentError(
                f"issue {day.isoformat()} does not pass the check; it cannot be approved", report.problems,
                hint="fix the lines above, then approve again"))
        name = by or self.environ.get(EDITOR_ENV) or login_name(self.environ)
        state = approve(report.issue.folder, name, self.clock().astimezone(settings.tz))
        # The render approved is the one the send starts from (for the same inputs): its start is a lookup.
        checked.keep(settings, day, key, report.rendered, lambda: public_page(report.issue, settings), self.clock())
        return state

    def readiness(self, day: date | None = None) -> "Readiness":
        """The scheduler's gate on the issue: missing, failing, waiting approval, ready or sent."""
        from newsletter.schedule.gate import readiness

        return readiness(self.settings, self.reading_store(), self._day(day))

    # -- sending ----------------------------------------------------------------------------------

    def authorize_send(self, day: date | None = None, *, without_approval: str | None = None,
                       by: str | None = None) -> SendClearance:
        """Everything a send must pass before it starts, in the order an operator fixes them: the key,
        the approval, someone to send to; a send without approval is recorded here (who and why).

        :param without_approval: the reason to send although the approval is required and not current.
        :raises ConfigError: when the secret key is missing or weak.
        :raises ApprovalRequiredError: when the approval is required, not current and no reason is given.
        :raises DeliveryError: when nobody would receive a first send.
        """
        from newsletter.content.approval import refusal
        from newsletter.content.load import issue_folder
        from newsletter.delivery.engine import render_checked_issue as prepare
        from newsletter.store.history import record_override

        settings, day = self.settings, self._day(day)
        reason = checked_reason(without_approval) if without_approval is not None else None
        self.secret_key()  # a configuration error (exit 2) comes before the approval's refusal
        folder = issue_folder(settings.issues_dir, day)
        approval = self.approval(day)
        required = settings.schedule.require_approval and folder.is_dir()  # a missing issue is reported as such
        if required and not approval.current and reason is None:
            raise refusal(approval, day.isoformat())
        self._refuse_a_send_to_nobody(day)
        if required and not approval.current and reason is not None:
            rendered = self._checked(lambda: prepare(settings, day))
            who = " ".join((by or "").split())[:200] or login_name(self.environ)
            record_override(self.store, day, rendered.subject, by=who, reason=reason, now=self.clock())
            return SendClearance(day, approval, required, override_by=who)
        return SendClearance(day, approval, required, override_needless=reason is not None)

    def _refuse_a_send_to_nobody(self, day: date) -> None:
        """A first send with no active subscriber is a forgotten import, not an issue sent to 0 people:
        refused before anything is recorded, so that history stays true and the next send goes out."""
        from newsletter.errors import DeliveryError
        from newsletter.store.status import send_started
        from newsletter.store.subscribers import count_subscribers

        store = self.reading_store()
        if not send_started(store, day) and count_subscribers(store, status="active") == 0:
            raise DeliveryError(f"issue {day.isoformat()} has nobody to go to: there is no active subscriber; "
                                "nothing was sent",
                                hint="import the list with `newsletter subscribers import FILE` (or add one with "
                                     f"`newsletter subscribers add EMAIL`), then run `newsletter send "
                                     f"{day.isoformat()}`")

    def send(self, day: date | None = None, *, limit: int | None = None, without_approval: str | None = None,
             by: str | None = None, clearance: SendClearance | None = None,
             progress: Callable[[int], None] | None = None, stop: "threading.Event | None" = None,
             workers: int = 1) -> "SendReport":
        """Send the issue to every active subscriber who has not received it yet (resumable, exactly once).

        :param workers: with more than one, start the send, then run that many local worker processes
            on it (PostgreSQL only; :mod:`newsletter.services.workers`) and report their totals.
        :param limit: hand over at most this many messages in this run.
        :param clearance: from :meth:`authorize_send`, when the caller ran it first; else it runs here.
        :param progress: called with the number of recipients settled after each batch.
        :param stop: set it to end the run cleanly after the messages in hand.
        :return: the ledger's figures after the run; ``complete`` is False while some remain.
        """
        from newsletter.delivery.engine import send_issue

        day = self._day(day)
        if workers > 1:
            from newsletter.errors import UsageError

            self.require_workers()  # refused before the approval is asked
            if limit is not None:
                raise UsageError("--limit and --workers do not go together: a limit is for one process")
        if clearance is None or clearance.day != day:
            clearance = self.authorize_send(day, without_approval=without_approval, by=by)
        key = self.secret_key().value
        if workers > 1:
            import threading

            from newsletter.services.workers import send_with_workers

            report = self._checked(lambda: send_with_workers(
                self.settings, self.store, day, workers, secret_key=key, environ=self.environ,
                stop=stop or threading.Event(), clock=self.clock, progress=progress))
        else:
            report = self._checked(lambda: send_issue(self.settings, self.store, day, secret_key=key, limit=limit,
                                                      progress=progress, stop=stop, clock=self.clock))
        if report.paused:
            from newsletter.services.reputation import alert_pause

            alert_pause(self.settings, self.store, report, now=self.clock(), environ=self.environ)
        return report

    def resend_plan(self, day: date | None = None) -> "ResendPlan":
        """How many rows of the issue's send :meth:`resend_uncertain` would send again now.

        :raises DeliveryError: when the send never started or is not finished.
        :raises SendBusyError: while another run, a worker or the scheduler holds the send.
        """
        from datetime import timedelta

        from newsletter.delivery.engine import plan_resend

        lease = timedelta(seconds=self.settings.delivery.lease_seconds)
        return plan_resend(self.reading_store(), self._day(day), self.clock(), lease)

    def resend_uncertain(self, day: date | None = None, *, by: str | None = None,
                         progress: Callable[[int], None] | None = None,
                         stop: "threading.Event | None" = None) -> "ResendReport":
        """Send again the rows of the issue's send left ``uncertain`` (and only them), through the ledger:
        exactly once from now on, with the Message-ID of their first attempt, so receivers that drop
        duplicates recognize a second copy. Some of them may have arrived already: the caller says so
        to whoever asks for it. Recorded on the send (who, when, how many).

        :param by: who asks for it (default: the login name).
        :raises DeliveryError: when the send never started or is not finished (nothing is resent).
        :raises SendBusyError: while another run, a worker or the scheduler holds the send.
        """
        from newsletter.delivery.engine import resend_uncertain

        day = self._day(day)
        who = " ".join((by or "").split())[:200] or login_name(self.environ)
        key = self.secret_key().value
        return resend_uncertain(self.settings, self.store, day, secret_key=key, by=who, progress=progress,
                                stop=stop, clock=self.clock)

    def outbox_folder(self) -> Path | None:
        """Where the outbox adapter puts each message it delivers (its Maildir's ``new/``, from
        ``[delivery.outbox] path``); None when another adapter is configured.

        :raises ConfigError: when ``[delivery.outbox] path`` is not a path.
        """
        if self.settings.delivery.adapter != "outbox":
            return None
        from newsletter.delivery.outbox import OutboxAdapter

        return OutboxAdapter(self.settings, self.environ).path / "new"

    def require_workers(self) -> None:
        """:raises ConfigError: when the store cannot coordinate workers (SQLite: one process sends)."""
        from newsletter.services.workers import require_shared_store

        require_shared_store(self._store if self._store is not None else self.settings.store.url)

    def work(self, *, stop: "threading.Event", once: bool = False, day: date | None = None,
             poll: float | None = None, on_report: "Callable[[SendReport], None] | None" = None) -> list["SendReport"]:
        """Be a worker: help the sends others started (on PostgreSQL) until ``stop``, or once with ``once``.

        :param day: help only that issue's send.
        :param poll: seconds between two looks for open sends when there is nothing to do.
        :raises ConfigError: on SQLite (workers need PostgreSQL) or when the transport refuses the configuration.
        """
        from newsletter.services.workers import POLL_SECONDS, work

        self.require_workers()
        key = self.secret_key().value
        return self._checked(lambda: work(self.settings, self.store, secret_key=key, stop=stop, once=once, day=day,
                                          poll=POLL_SECONDS if poll is None else poll, clock=self.clock,
                                          on_report=on_report))

    def waiting(self, day: date | None = None) -> int:
        """How many recipients of the issue's send wait for a run (0 before the first send)."""
        from newsletter.store.status import waiting_rows

        return waiting_rows(self.reading_store(), self._day(day))

    def send_test(self, addresses: Iterable[str], day: date | None = None) -> list[ProofCopy]:
        """Send the issue, marked "[TEST]", to these addresses only (one copy per mailbox); nothing is recorded.

        :raises UsageError: for an address that is not one.
        """
        from newsletter.delivery.engine import send_test
        from newsletter.render.mime import Recipient

        day = self._day(day)
        recipients = [Recipient(a) for a in dict.fromkeys(checked_address(a) for a in addresses)]
        key = self.secret_key().value
        results = self._checked(lambda: send_test(self.settings, day, recipients, secret_key=key, clock=self.clock))
        return [ProofCopy(r.email, result.ok, "" if result.ok else result.error)
                for r, result in zip(recipients, sorted(results, key=lambda x: x.key))]

    def process_bounces(self, message: bytes | None = None) -> BounceCounts:
        """Read ``[bounces]``' mailbox (or the one piped ``message``): record each bounce, complaint and
        mailto unsubscribe, then move the message aside; the unrecognized stay for a human."""
        from newsletter.feedback.mail.process import read_configured

        return read_configured(self.settings, self.store, secret_key=self.secret_key().value, now=self.clock(),
                               message=message, environ=self.environ)

    def dry_run(self, day: date | None = None, *, limit: int | None = None) -> DryRunResult:
        """Count who would receive the issue now and build one sample message; sends and records nothing."""
        from newsletter.content.load import issue_folder
        from newsletter.delivery.engine import dry_run

        settings, day = self.settings, self._day(day)
        key = self.secret_key().value
        approval = self.approval(day)
        required = settings.schedule.require_approval and issue_folder(settings.issues_dir, day).is_dir()
        plan = self._checked(lambda: dry_run(settings, self.reading_store(), day, secret_key=key, clock=self.clock,
                                             limit=limit))
        return DryRunResult(day, settings.delivery.adapter, plan.recipients, plan.already_served, plan.sample,
                            plan.sample_to, approval, required and not approval.current)

    def schedule_once(self, at: datetime, day: date | None = None) -> str:
        """Have the running scheduler send the issue once at ``at`` (the gate applies then).

        :return: the job's id.
        :raises ContentError: when the issue was already sent.
        :raises ConfigError: when ``at`` is in the past.
        """
        from newsletter.schedule.jobs import schedule_once

        return schedule_once(self.settings, self.store, self._day(day), at, clock=self.clock)

    # -- reading ----------------------------------------------------------------------------------

    def status(self, day: date | None = None, *, uncertain: int | None = UNCERTAIN_SHOWN) -> IssueStatus:
        """Where the issue stands: figures, problems by reason, the uncertain rows, approval, override,
        resends and schedule.

        :param uncertain: list at most this many uncertain rows (None: all of them).
        """
        from newsletter.schedule.gate import day_state
        from newsletter.store.history import issue_figures
        from newsletter.store.pauses import pauses_of
        from newsletter.store.resends import resends_of
        from newsletter.store.status import send_summary, uncertain_rows
        from newsletter.store.workers import live_workers_of

        day, store = self._day(day), self.reading_store()
        summary = send_summary(store, day)
        record = summary.record
        override = Override(record.override_by, record.override_reason, record.override_at) \
            if record is not None and record.override_by else None
        return IssueStatus(day, self.settings.tz, record.started_at if record else None,
                           record.finished_at if record else None, summary.counts, summary.problems,
                           self.approval(day), override,
                           day_state(self.settings, store, day, self.clock(), counts=summary.counts),
                           issue_figures(store, day, counts=summary.counts) if record else None, pauses_of(store, day),
                           live_workers_of(store, day, self.clock()) if record else [],
                           uncertain_rows(store, day, uncertain) if summary.counts.get("uncertain") else [],
                           resends_of(store, day) if record else [])

    def history(self, limit: int | None = 30) -> list["HistoryRow"]:
        """The issues sent, newest first, with their figures."""
        from newsletter.store.history import history

        return history(self.reading_store(), limit=limit)

    def schedule_view(self, count: int = 5) -> ScheduleView:
        """The next ``count`` due times with the gate's verdict on each day, and the one-off sends waiting."""
        from newsletter.schedule.due import next_runs
        from newsletter.schedule.gate import readiness
        from newsletter.schedule.jobs import stored_jobs

        settings, store = self.settings, self.reading_store()
        upcoming = [UpcomingRun(fire, readiness(settings, store, fire.date()))
                    for fire in next_runs(settings, self.clock(), count)]
        return ScheduleView(settings.schedule.cron, settings.schedule_tz, settings.schedule.require_approval,
                            settings.schedule.grace_minutes, upcoming,
                            # no database, no job stored (and APScheduler would dispose of the memory one)
                            stored_jobs(settings, store) if store is not self._empty else [])

    # -- long-running parts -------------------------------------------------------------------------

    def schedule_ops(self) -> "ScheduleOps":
        """What the running scheduler (``schedule run``, :mod:`newsletter.frontends.scheduler`) reads and records:
        the gate, the day claims, the send, the alerts, the bounce mailbox.

        :raises ConfigError: when the secret key is missing or weak.
        """
        from newsletter.library.schedule import ScheduleOps

        return ScheduleOps(self)


class Subscribers:
    """The subscriber list of one :class:`Newsletter` (``nl.subscribers``)."""

    def __init__(self, newsletter: Newsletter) -> None:
        self._nl = newsletter

    def import_csv(self, path: str | Path, *, source: str = "import", dry_run: bool = False,
                   check_dns: bool = False) -> "ImportSummary":
        """Import a CSV file (UTF-8 or Windows-1252; , ; or tab) whole or not at all; people who left stay out.

        :param source: consent source for rows that name none.
        :param dry_run: compute what would change, write nothing.
        :raises ImportFileError: when the file cannot be read or has no address column.
        """
        from newsletter.audience.csv_reader import read_subscriber_csv
        from newsletter.store.subscribers import import_rows

        nl = self._nl
        rows = read_subscriber_csv(Path(path), check_dns=check_dns,
                                   default_timezone=nl.settings.newsletter.timezone)
        return import_rows(nl.reading_store() if dry_run else nl.store, rows, now=nl.clock(), source=source,
                           dry_run=dry_run)

    def export(self, path: str | Path, *, status: str | None = None, excel_fr: bool = False) -> ExportResult:
        """Write the list (every status, consent kept) to a CSV that ``import_csv`` restores.

        :param excel_fr: ``;`` and dates in the newsletter's time zone, for French Excel.
        """
        from newsletter.audience.export import EXPORT_COLUMNS, write_subscriber_csv
        from newsletter.store.subscribers import list_subscribers

        nl = self._nl
        rows = ({c: getattr(s, c) for c in EXPORT_COLUMNS} for s in list_subscribers(nl.reading_store(), status=status))
        count = write_subscriber_csv(Path(path), rows, excel_fr=nl.settings.tz if excel_fr else None)
        return ExportResult(Path(path), count)

    def add(self, email: str, *, first_name: str = "", last_name: str = "") -> SubscriberChange:
        """Add one active subscriber, or update their names (never one who left).

        :raises UsageError: for an invalid address or name.
        :raises NewsletterError: when the address unsubscribed, bounced or complained.
        """
        from newsletter.store.subscribers import add_subscriber, find_subscriber

        nl = self._nl
        address = checked_address(email, "email")
        subscriber, created = add_subscriber(nl.store, address, now=nl.clock(),
                                             first_name=checked_name(first_name, "first_name"),
                                             last_name=checked_name(last_name, "last_name"))
        record = find_subscriber(nl.store, subscriber.email)
        assert record is not None
        return SubscriberChange(record, created)

    def remove(self, email: str) -> SubscriberChange:
        """Unsubscribe an address; the record stays as proof and as a suppression.

        :raises NewsletterError: when the address is not in the list.
        """
        from newsletter.store.subscribers import find_subscriber, unsubscribe

        nl = self._nl
        subscriber = unsubscribe(nl.store, checked_address(email, "email"), now=nl.clock())
        record = find_subscriber(nl.store, subscriber.email)
        assert record is not None
        return SubscriberChange(record)

    def get(self, email: str) -> "SubscriberRecord | None":
        """The subscriber with this address, or None."""
        from newsletter.store.subscribers import find_subscriber

        return find_subscriber(self._nl.reading_store(), checked_address(email, "email"))

    def list(self, *, status: str | None = None, search: str | None = None,
             limit: int | None = None) -> Iterator["SubscriberRecord"]:
        """Subscribers in address order, streamed (flat memory for any list size)."""
        from newsletter.store.subscribers import list_subscribers

        return list_subscribers(self._nl.reading_store(), status=status, search=search, limit=limit)

    def search(self, text: str, *, status: str | None = None, limit: int | None = 50) -> _List["SubscriberRecord"]:
        """Subscribers whose address contains ``text`` (any case; ``xn--`` domains match too)."""
        return _List(self.list(status=status, search=text, limit=limit))

    def count(self, *, status: str | None = None, search: str | None = None) -> int:
        """How many subscribers :meth:`list` gives without a limit."""
        from newsletter.store.subscribers import count_subscribers

        return count_subscribers(self._nl.reading_store(), status=status, search=search)

    def count_by_status(self) -> dict[str, int]:
        from newsletter.store.subscribers import count_by_status

        return count_by_status(self._nl.reading_store())
