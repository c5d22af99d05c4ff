"""The public entry point: a :class:`Newsletter` holds one project's settings, store, secret key and
clock, and offers the operations every front end needs (the CLI, the scheduler, ``serve``, the desk).

Each operation returns a typed result and raises a :class:`~newsletter.errors.NewsletterError`
for the person who must act; nothing here prints, prompts or exits. The modules below
(content, render, store, delivery, schedule) do the work; this package only strings them together.

Example::

    from newsletter import Newsletter

    with Newsletter.open("ma-lettre") as nl:
        result = nl.check()
        if result.ok:
            nl.approve(by="Camille Martin")
            print(nl.send().counts)

How it is reached, one way for each kind of thing:

- **The day's issue is the facade's own business**: ``nl.check()``, ``nl.approve()``,
  ``nl.send()``, ``nl.status()``… are methods of :class:`Newsletter`. They are written in
  :mod:`~newsletter.library.composing` (new issue, check, build, approval, gate),
  :mod:`~newsletter.library.sending` (clearance, send, workers, dry run, test copies, resends,
  bounce mailbox, one-off sends) and :mod:`~newsletter.library.reports` (status, history,
  schedule), each a base class of :class:`Newsletter` over :class:`~newsletter.library.project.Project`
  (settings, store, secret key, clock).
- **Every other area is a part**: an object of its own module, reached as a cached property
  of the newsletter (built at first use, the same object afterwards, never called):

  ========================  ====================================================  ==========================
  ``nl.subscribers``        the list: import, export, add, remove, look up        :mod:`.subscribers`
  ``nl.subscriptions``      the web form's double opt-in, one-click unsubscribe   :mod:`.subscriptions`
  ``nl.readers``            preferences, pause, welcome, data download, erasure   :mod:`.readers`
  ``nl.archive``            the public archive: pages, feed, images, logo         :mod:`.archive`
  ``nl.webhooks``           the mail APIs' events, verified and recorded          :mod:`.web`
  ``nl.users``              the desk's accounts                                   :mod:`.accounts`
  ``nl.api_keys``           the HTTP API's keys                                   :mod:`.api_keys`
  ``nl.hooks``              the outgoing webhooks' worker and outbox              :mod:`.hooks`
  ``nl.issues``             the issue folders as the desk edits them              :mod:`.editing`
  ``nl.schedule_ops``       what the running scheduler reads and records          :mod:`.schedule`
  ``nl.clicks``             counted links: redirects, their recorder, reports     :mod:`.clicks`
  ``nl.corrections``        corrections of sent issues: page, note, mail          :mod:`.corrections`
  ========================  ====================================================  ==========================

  A part that needs a secret reads it when it is built (``nl.webhooks``, ``nl.schedule_ops``):
  the access raises the :class:`~newsletter.errors.ConfigError`, and the next access tries again.
- **What needs no project** is a function of this package: :func:`diagnose`,
  :func:`make_dkim_key`, :func:`log_events_as_json` (:mod:`~newsletter.library.tools`),
  :func:`preview_build`, :func:`preview_image` (:mod:`~newsletter.library.preview`), and the
  checks of what a person types (:mod:`~newsletter.library.inputs`).

Every public name is in ``__all__`` and is imported from here (``from newsletter.library import
Verdict``), never from the module that defines it: the front ends reach this package and nothing
below it. The types defined below the library that the front ends name (``Problem``, ``SendReport``,
``Readiness``…) and the parts and tools a command may not need are listed too, and imported on
first use (PEP 562) so that starting the CLI stays light; a part's module is imported when its
property is first read.
"""

from __future__ import annotations

from functools import cached_property
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from newsletter.config import find_project, load_settings
from newsletter.library.composing import EDITOR_ENV, Composing
from newsletter.library.inputs import REASON_MAX, checked_address, checked_name, checked_reason, login_name
from newsletter.library.project import PROJECT_ENV, Clock, Project, SecretKey, utc_now
from newsletter.library.reports import Reports
from newsletter.library.results import (
    UNCERTAIN_SHOWN,
    BrokenTemplateError,
    CheckResult,
    DryRunResult,
    IssueStatus,
    Override,
    ProofCopy,
    ScheduleView,
    SendClearance,
    UpcomingRun,
    Verdict,
    refusal_for,
)
from newsletter.library.sending import Sending

if TYPE_CHECKING:
    from datetime import date

    from newsletter.content.approval import ApprovalState
    from newsletter.core.issue_id import IssueId
    from newsletter.library.archive import Archive
    from newsletter.library.preview import PreviewBuild, PreviewProblem, preview_build, preview_image
    from newsletter.library.subscribers import ExportResult, SubscriberChange, Subscribers
    from newsletter.library.subscriptions import Subscriptions
    from newsletter.library.readers import ReaderPreferences, Readers, WelcomeOutcome
    from newsletter.library.tools import diagnose, log_events_as_json, make_dkim_key
    from newsletter.library.web import Health, WebhookAnswer, Webhooks
    from newsletter.content.problems import Problem
    from newsletter.content.publication import PROOF_PARAM, Image
    from newsletter.delivery.engine import ResendPlan, ResendReport, SendReport
    from newsletter.library.accounts import Account, Accounts
    from newsletter.library.api_keys import SCOPES, ApiKey, ApiKeys
    from newsletter.library.hooks import Hooks
    from newsletter.core.logs import event
    from newsletter.core.i18n import Quoted, Translatable, Words, lend_to_gettext, user_locale, words
    from newsletter.errors import StaleEditError
    from newsletter.library.drafting import Drafted
    from newsletter.library.editing import Author, IssueDraft, Issues, ItemDraft, Placed, PreviewResult
    from newsletter.library.schedule import ScheduleOps
    from newsletter.services.weekly import WeeklyBuild
    from newsletter.library.clicks import ClickAnswer, Clicks
    from newsletter.library.corrections import (NOTE_CHARS, CorrectionOutcome, CorrectionPlan, Corrections,
                                                CorrectionView)
    from newsletter.services.readership import IssueFigures, Trends
    from newsletter.schedule.gate import Readiness
    from newsletter.schedule.jobs import (ALIVE_SECONDS, DAILY_JOB, HEARTBEAT_JOB, HEARTBEAT_SECONDS, INTERRUPTED,
                                          JOB_FUNCTION, STORED_BEFORE)
    from newsletter.store.history import HistoryRow
    from newsletter.store.models import DayClaimState


class Newsletter(Composing, Sending, Reports):
    """One newsletter project: settings, store (opened on first use), secret key and clock, the
    operations on its issues, and its parts (see the package's docstring).

    :param settings: the project's validated settings.
    :param store: an open store; by default the one ``[store] url`` names, opened when first needed.
    :param secret_key: the signing key; by default ``NEWSLETTER_SECRET_KEY`` read when first needed.
    :param environ: where secrets and names are read (default: the process environment).
    :param clock: the time now, aware (tests pin it).
    """

    @classmethod
    def open(cls, path: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
             clock: Clock | None = None) -> "Newsletter":
        """Open the project at ``path``; without one, ``$NEWSLETTER_PROJECT``, else the nearest folder
        at or above the current one that holds ``newsletter.toml``.

        :raises ConfigError: when there is no project or its configuration is invalid.
        """
        import os

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

    def health(self) -> "Health":
        """Whether the store answers (``/healthz``); a failure is the result, never an exception."""
        from newsletter.library.web import health

        return health(self)

    # -- the parts: cached properties, one object each ------------------------------------------

    @cached_property
    def subscribers(self) -> "Subscribers":
        """The subscriber list: import, export, add, remove, look up, count."""
        from newsletter.library.subscribers import Subscribers

        return Subscribers(self)

    @cached_property
    def subscriptions(self) -> "Subscriptions":
        """The public side of the list: double opt-in, one-click unsubscribe (the web service's)."""
        from newsletter.library.subscriptions import Subscriptions

        return Subscriptions(self)

    @cached_property
    def readers(self) -> "Readers":
        """What readers choose and are owed: preferences page, frequency, pause, welcome, data, erasure."""
        from newsletter.library.readers import Readers

        return Readers(self)

    @cached_property
    def archive(self) -> "Archive":
        """The public archive: sent issues, web versions (kept while their files stay), feed, images."""
        from newsletter.library.archive import Archive

        return Archive(self)

    @cached_property
    def webhooks(self) -> "Webhooks":
        """The mail APIs' webhook events, verified and recorded (the providers of ``[webhooks]``).

        :raises ConfigError: when a configured secret is missing from the environment or unusable.
        """
        from newsletter.library.web import Webhooks

        return Webhooks.build(self)

    @cached_property
    def users(self) -> "Accounts":
        """The desk's accounts (``newsletter users``, the desk's sign-in)."""
        from newsletter.library.accounts import Accounts  # argon2 and its dummy hash: only when asked

        return Accounts(lambda: self.store, self.clock, issuer=self.settings.newsletter.name,
                        secret_key=lambda: self.secret_key().value)

    @cached_property
    def hooks(self) -> "Hooks":
        """The outgoing webhooks of ``[[hooks]]``: their worker, ``hooks list`` and ``hooks retry``."""
        from newsletter.library.hooks import Hooks

        return Hooks(self.settings, lambda: self.store, self.clock, self.environ, reading=self.reading_store)

    @cached_property
    def api_keys(self) -> "ApiKeys":
        """The HTTP API's keys (``newsletter api-keys``, the API's ``Authorization: Bearer``)."""
        from newsletter.library.api_keys import ApiKeys

        return ApiKeys(lambda: self.store, self.clock)

    @cached_property
    def issues(self) -> "Issues":
        """The issue folders as the desk edits them: versioned, atomic saves (:mod:`newsletter.library.editing`)."""
        from newsletter.library.editing import Issues

        return Issues(self.settings, record=self.users.record_edit, create=self.new_issue)

    def draft(self, day: date | None, *, urls: Sequence[str] = (), feed: str | None = None,
              by: "Author | None" = None) -> "Drafted":
        """Item files prefilled from pages' metadata (``newsletter draft``); see :mod:`newsletter.library.drafting`.

        :raises FetchRefused: for an address that is not fetched; :raises FetchError: for a page that
            cannot be read; nothing is written then.
        """
        from newsletter.library.drafting import Editor, draft

        who = by or Editor(self.environ.get(EDITOR_ENV) or login_name(self.environ))
        return draft(self.issues, self.settings, self.existing_store(), self._day(day), urls, feed, who)

    def weekly_build(self, week: str | None = None) -> "WeeklyBuild":
        """Write the weekly roundup ``issues/SUNDAY-hebdo/`` of the ISO week ``week`` (``2026-W49``; default
        the current week in the newsletter's time zone) from the week's sent daily issues; see
        :mod:`newsletter.services.weekly`.

        :raises UsageError: for a malformed week; :raises ContentError: when no issue was sent that week;
        :raises ScaffoldError: when the roundup's folder exists (it is never written over).
        """
        from newsletter.errors import NoClicksError
        from newsletter.services.weekly import build_weekly, week_bounds
        from newsletter.store.archive import published

        monday, sunday = week_bounds(week, self.today())
        store = self.existing_store()
        sent = [] if store is None else [p.day for p in published(store)
                                         if monday <= p.day <= sunday and not getattr(p.day, "slug", "")]
        clicks: dict[tuple[date, int], int] = {}
        if self.settings.analytics.clicks and store is not None:
            for day in sent:
                try:
                    figures = self.clicks.report(day)
                except NoClicksError:
                    continue
                clicks.update({(day, item.position): item.unique_clicks for item in figures.items})
        return build_weekly(self.settings, sent, clicks, monday, sunday)

    @cached_property
    def schedule_ops(self) -> "ScheduleOps":
        """What the running scheduler (``schedule run``, :mod:`newsletter.frontends.scheduler`) reads and records:
        the gate, the day claims, the send, the alerts, the bounce mailbox.

        :raises ConfigError: when the secret key is missing or weak.
        """
        from newsletter.library.schedule import ScheduleOps

        return ScheduleOps(self)


    @cached_property
    def clicks(self) -> "Clicks":
        """The counted links of the issues sent: ``serve``'s redirects and their recorder, ``report``."""
        from newsletter.library.clicks import Clicks
        return Clicks(self)

    @cached_property
    def corrections(self) -> "Corrections":
        """Corrections of sent issues: the corrected page, its note and changes, the mail to its readers."""
        from newsletter.library.corrections import Corrections

        return Corrections(self)


#: The public names defined below the library, by module: imported when first asked for.
_BELOW = {
    "newsletter.content.approval": ("ApprovalState",),
    "newsletter.core.issue_id": ("IssueId",),
    "newsletter.content.problems": ("Problem",),
    "newsletter.content.publication": ("PROOF_PARAM", "Image"),
    "newsletter.delivery.engine": ("ResendPlan", "ResendReport", "SendReport"),
    "newsletter.delivery.reasons": ("said_reason",),
    "newsletter.library.accounts": ("Account", "Accounts"),
    "newsletter.library.api_keys": ("SCOPES", "ApiKey", "ApiKeys"),
    "newsletter.library.hooks": ("Hooks",),
    "newsletter.core.logs": ("event",),
    "newsletter.core.i18n": ("Quoted", "Translatable", "Words", "lend_to_gettext", "user_locale", "words"),
    "newsletter.errors": ("StaleEditError",),
    "newsletter.library.editing": ("Author", "IssueDraft", "Issues", "ItemDraft", "Placed", "PreviewResult"),
    "newsletter.library.schedule": ("ScheduleOps",),
    "newsletter.services.weekly": ("WeeklyBuild",),
    "newsletter.services.workers": ("left_undone",),
    "newsletter.library.archive": ("Archive",),
    "newsletter.library.clicks": ("ClickAnswer", "Clicks"),
    "newsletter.library.corrections": ("NOTE_CHARS", "CorrectionOutcome", "CorrectionPlan", "Corrections",
                                       "CorrectionView"),
    "newsletter.services.readership": ("IssueFigures", "Trends"),
    "newsletter.library.preview": ("PreviewBuild", "PreviewProblem", "preview_build", "preview_image"),
    "newsletter.library.subscribers": ("ExportResult", "SubscriberChange", "Subscribers"),
    "newsletter.library.subscriptions": ("Subscriptions",),
    "newsletter.library.readers": ("ReaderPreferences", "Readers", "WelcomeOutcome"),
    "newsletter.library.tools": ("diagnose", "log_events_as_json", "make_dkim_key"),
    "newsletter.library.web": ("Health", "WebhookAnswer", "Webhooks"),
    "newsletter.schedule.gate": ("Readiness",),
    "newsletter.schedule.jobs": ("ALIVE_SECONDS", "DAILY_JOB", "HEARTBEAT_JOB", "HEARTBEAT_SECONDS", "INTERRUPTED",
                                 "JOB_FUNCTION", "STORED_BEFORE"),
    "newsletter.store.history": ("HistoryRow",),
    "newsletter.store.models": ("DayClaimState",),
}
_LAZY = {name: module for module, names in _BELOW.items() for name in names}


def __getattr__(name: str) -> Any:
    """A public name of :data:`_BELOW`, imported now (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    # the facade and its core
    "Newsletter", "Project", "Clock", "SecretKey", "utc_now", "PROJECT_ENV", "EDITOR_ENV",
    # the parts
    "Subscribers", "Subscriptions", "Readers", "Archive", "Webhooks", "Accounts", "Issues", "ScheduleOps",
    "Clicks", "Corrections",
    # what the operations return
    "CheckResult", "Verdict", "SendClearance", "DryRunResult", "ProofCopy", "Override", "IssueStatus",
    "UpcomingRun", "ScheduleView", "ExportResult", "SubscriberChange", "Health", "WebhookAnswer", "UNCERTAIN_SHOWN",
    "BrokenTemplateError", "refusal_for",
    # what needs no project
    "diagnose", "make_dkim_key", "log_events_as_json", "preview_build", "preview_image", "PreviewBuild",
    "PreviewProblem",
    # what a person types
    "checked_address", "checked_name", "checked_reason", "login_name", "REASON_MAX",
    # types defined below the library that the front ends name (imported on first use)
    *_LAZY,
]
