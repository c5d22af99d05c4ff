"""What the library's operations return (typed, frozen), and the refusal a failed check ends on.

The front ends present these; none of them is built anywhere but in the library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.config import Settings
from newsletter.errors import BrokenTemplateError, ContentError, NewsletterError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from newsletter.content.approval import ApprovalState
    from newsletter.content.problems import Problem
    from newsletter.schedule.gate import Readiness
    from newsletter.schedule.gate import DayState
    from newsletter.store.history import HistoryRow
    from newsletter.store.pauses import Pause
    from newsletter.store.resends import Resend
    from newsletter.store.status import ReasonCount, UncertainRow
    from newsletter.store.workers import LiveWorker

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
                         "dispatch_reason": state.dispatch_reason, "attention": state.alarm or None,
                         "holiday": state.holiday or None},
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
    holiday: str = ""  #: the public holiday that cancels this due time ([schedule] skip_holidays), or ""


@dataclass(frozen=True)
class ScheduleView:
    """The schedule as ``schedule show`` lists it."""

    cron: str
    tz: "ZoneInfo"
    require_approval: bool
    grace_minutes: int
    upcoming: list[UpcomingRun]
    once: list[tuple[str, datetime | None]]  # one-off sends waiting: (name, when; None when paused)
