"""The send and what surrounds it, as methods of :class:`~newsletter.library.Newsletter`: the
clearance, the send itself (one process or workers), the dry run, test copies, resends of
uncertain rows, the bounce mailbox and one-off scheduled sends.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from newsletter.library.inputs import checked_address, checked_reason, login_name
from newsletter.library.project import Project
from newsletter.library.results import DryRunResult, ProofCopy, SendClearance

if TYPE_CHECKING:
    import threading

    from newsletter.delivery.engine import ResendPlan, ResendReport, SendReport
    from newsletter.feedback.mail.process import Counts as BounceCounts


class Sending(Project):
    """Sending the issue (``nl.send()``, ``nl.dry_run()``…)."""

    def authorize_send(self, day: date | None = None, *, without_approval: str | None = None,
                       by: str | None = None, workers: int = 1) -> SendClearance:
        """Everything a send must pass before it starts, in the order an operator fixes them: the key,
        the approval, someone to send to; a send without approval is recorded here (who and why).

        :param without_approval: the reason to send although the approval is required and not current.
        :param workers: as for :meth:`send`. With one, the transport starts what runs beside the send's
            start-up as soon as the approval is in order (the DKIM signing process, on the other core).
        :raises ConfigError: when the secret key is missing or weak.
        :raises ApprovalRequiredError: when the approval is required, not current and no reason is given.
        :raises DeliveryError: when nobody would receive a first send.
        """
        from newsletter.content.approval import refusal
        from newsletter.content.load import issue_folder

        settings, day = self.settings, self._day(day)
        reason = checked_reason(without_approval) if without_approval is not None else None
        self.secret_key()  # a configuration error (exit 2) comes before the approval's refusal
        folder = issue_folder(settings.issues_dir, day)
        approval = self.approval(day)
        required = settings.schedule.require_approval and folder.is_dir()  # a missing issue is reported as such
        if required and not approval.current and reason is None:
            raise refusal(approval, day.isoformat())
        if workers == 1:
            from newsletter.delivery.base import prepare_transport

            prepare_transport(settings)
        self._refuse_a_send_to_nobody(day)
        if required and not approval.current and reason is not None:
            from newsletter.delivery.engine import render_checked_issue as prepare
            from newsletter.store.history import record_override

            rendered = self._checked(lambda: prepare(settings, day))
            who = " ".join((by or "").split())[:200] or login_name(self.environ)
            record_override(self.store, day, rendered.subject, by=who, reason=reason, now=self.clock())
            return SendClearance(day, approval, required, override_by=who)
        return SendClearance(day, approval, required, override_needless=reason is not None)

    def _refuse_a_send_to_nobody(self, day: date) -> None:
        """A first send with no active subscriber is a forgotten import, not an issue sent to 0 people:
        refused before anything is recorded, so that history stays true and the next send goes out."""
        from newsletter.errors import N_, DeliveryError
        from newsletter.store.status import send_started
        from newsletter.store.subscribers import count_subscribers

        store = self.reading_store()
        if not send_started(store, day) and count_subscribers(store, status="active") == 0:
            raise DeliveryError(N_("issue %(date)s has nobody to go to: there is no active subscriber; nothing was "
                                   "sent"),
                                hint=N_("import the list with `newsletter subscribers import FILE` (or add one with "
                                        "`newsletter subscribers add EMAIL`), then run `newsletter send %(date)s`"),
                                values={"date": day.isoformat()})

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
            clearance = self.authorize_send(day, without_approval=without_approval, by=by, workers=workers)
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
