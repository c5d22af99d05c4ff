"""The issue's life before its send, as methods of :class:`~newsletter.library.Newsletter`:
a new issue folder, the check, the build, the approval and the scheduler's gate.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.core.i18n import Count
from newsletter.errors import N_, ContentError, NewsletterError
from newsletter.library.inputs import login_name
from newsletter.library.project import Project
from newsletter.library.results import CheckResult, Verdict, refusal_for

if TYPE_CHECKING:
    from newsletter.content.approval import ApprovalState
    from newsletter.schedule.gate import Readiness
    from newsletter.services.build import BuildResult
    from newsletter.services.links import LinkReport

#: Who approves when no name is given.
EDITOR_ENV = "NEWSLETTER_EDITOR"


class Composing(Project):
    """Writing, checking and approving the issue (``nl.check()``, ``nl.approve()``…)."""

    def new_issue(self, day: date | None = None) -> list[Path]:
        """Create ``issues/DATE`` with ``issue.yaml`` and one stub per item; returns the files."""
        from newsletter.services.scaffold import new_issue

        return new_issue(self.settings.issues_dir, self._day(day), self.settings.newsletter.items_per_issue)

    def links(self, day: date | None = None, *, fetch: bool = False) -> "list[LinkReport]":
        """Every link of the issue with its state as ``check --links`` found it within a day (kept in the store):
        ``ok``, ``dead``, ``moved`` or ``unchecked``. Without ``fetch`` no request is made (the desk's page);
        with it, the links not checked within a day are fetched now, as ``check --links`` does (a few at a time,
        each bounded by ``[sourcing] timeout``).

        :raises IssueNotFoundError: when the issue folder does not exist.
        """
        from newsletter.content.load import load_issue
        from newsletter.services.links import link_reports

        settings, day = self.settings, self._day(day)
        issue = load_issue(settings.issues_dir, day, settings.newsletter.items_per_issue).issue
        return link_reports(issue, settings, self.existing_store(), self.clock(), fetch=fetch)

    def check(self, day: date | None = None, *, links: bool = False) -> CheckResult:
        """Run every check on the issue (never creates a database).

        :param links: also fetch every link of the issue (``check --links``; see :mod:`newsletter.services.links`),
            results kept a day in the store when there is one.

        :raises IssueNotFoundError: when the issue folder does not exist.
        """
        from newsletter.content.approval import approval_state
        from newsletter.services.check import check_issue

        settings, day = self.settings, self._day(day)
        store = self.existing_store()
        report = check_issue(settings, day, store=store)
        if links:
            from newsletter.services.links import link_problems

            report.problems.extend(link_problems(report.issue, settings, store, self.clock()))
            report.problems.sort(key=lambda p: (str(p.path), p.line or 0))
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
            refusal = refusal_for(settings, ContentError(
                N_("%(folder)s: %(errors)s, %(warnings)s"), report.problems,
                hint=N_("fix the lines above, then run the check again"), values={
                    "folder": folder, "errors": Count("%(num)d error", "%(num)d errors", result.errors),
                    "warnings": Count("%(num)d warning", "%(num)d warnings", result.warnings)}))
            result = CheckResult(day, folder, report.problems, len(report.issue.items), size, approval, verdict,
                                 refusal, sent_at)
        return result

    def sent_at(self, day: date | None = None) -> datetime | None:
        """When the issue's first message went out (None while none has): from then on, an edit of its
        files changes neither what readers got nor its page in the public archive."""
        store = self.existing_store()
        if store is None:
            return None
        from newsletter.store.archive import first_sent_at

        return first_sent_at(store, self._day(day))

    def build(self, day: date | None = None) -> "BuildResult":
        """Check and render the issue into ``out/DATE/`` (email.html, email.txt, sample.eml).

        :raises ContentError: (with ``problems``) when the check fails; nothing is written.
        :raises BrokenTemplateError: when a template is at fault.
        """
        from newsletter.services.build import build_issue

        day = self._day(day)
        return self._checked(lambda: build_issue(self.settings, day))

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
                N_("issue %(day)s does not pass the check; it cannot be approved"), report.problems,
                hint=N_("fix the lines above, then approve again"), values={"day": day.isoformat()}))
        name = by or self.environ.get(EDITOR_ENV) or login_name(self.environ)
        state = approve(report.issue.folder, name, self.clock().astimezone(settings.tz))
        if "issue.approved" in settings.hook_routes:  # the approval is a file: its event follows, in a transaction
            from newsletter.store.outbox import record_event

            record_event(self.store, "issue.approved", {"issue": day.isoformat(), "by": name,
                                                        "subject": report.rendered.subject}, self.clock())
        # The render approved is the one the send starts from (for the same inputs): its start is a lookup.
        checked.keep(settings, day, key, report.rendered, lambda: public_page(report.issue, settings), self.clock())
        return state

    def readiness(self, day: date | None = None) -> "Readiness":
        """The scheduler's gate on the issue: missing, failing, waiting approval, ready or sent."""
        from newsletter.schedule.gate import readiness

        return readiness(self.settings, self.reading_store(), self._day(day))
