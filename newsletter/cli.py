"""The ``newsletter`` command: parses arguments, calls the library, prints the outcome.

Exit codes: 0 success, 1 content or delivery problems, 2 usage or configuration errors.
Every :class:`NewsletterError` is caught here, once, and printed with its hint; a
traceback is a bug.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from newsletter import __version__
from newsletter.build import build_issue
from newsletter.config import SECRET_KEY_ENV, Settings, find_project, load_settings, secret_from_env
from newsletter.content.check import check_issue
from newsletter.content.problems import Problem, errors
from newsletter.errors import ConfigError, ContentError, DeliveryError, NewsletterError
from newsletter.scaffold import init_project, new_issue

if TYPE_CHECKING:
    import threading

    from newsletter.delivery.engine import SendReport
    from newsletter.store.database import Store

#: Subscriber statuses (newsletter.store.models.SubscriberStatus), listed here to keep start-up light.
STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)

F = TypeVar("F", bound=Callable[..., Any])


class IssueDate(click.ParamType):
    """A ``YYYY-MM-DD`` date; absent means today in the newsletter's time zone."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-24", param, ctx)


DATE = IssueDate()


class Project:
    """The project folder chosen with ``--project``; settings are loaded on first use."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._settings: Settings | None = None
        self._store: "Store | None" = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            root = self.path if self.path is not None else find_project(Path.cwd())
            self._settings = load_settings(root)
        return self._settings

    def day(self, value: date | None) -> date:
        return value or self.settings.today()

    @property
    def store(self) -> "Store":
        from newsletter.store.database import open_store

        if self._store is None:
            self._store = open_store(self.settings.store.url, self.settings.root)
        return self._store

    def existing_store(self) -> "Store | None":
        """The store if the project has one already (``check`` must not create a database)."""
        from newsletter.store.database import open_existing_store

        if self._store is None:
            self._store = open_existing_store(self.settings.store.url, self.settings.root)
        return self._store

    def secret_key(self, *, listen: str | None = None) -> str:
        """``NEWSLETTER_SECRET_KEY``, refused when short, repetitive or published (exit 2).

        Only the demo's local outbox (nothing leaves the machine) accepts such a key, with a
        warning, and for ``serve`` only while it listens on a loopback address (``listen``).
        """
        from newsletter.delivery.base import is_loopback
        from newsletter.tokens import check_secret_key, key_weakness

        key = secret_from_env(SECRET_KEY_ENV, purpose="key that signs unsubscribe links")
        local_demo = self.settings.delivery.adapter == "outbox" and (listen is None or is_loopback(listen))
        check_secret_key(key, SECRET_KEY_ENV, local_demo=local_demo)
        if local_demo and key_weakness(key):
            click.secho(f"warning: {SECRET_KEY_ENV} {key_weakness(key)}; accepted only because the outbox adapter "
                        "delivers nothing", fg="yellow", err=True)
        return key


pass_project = click.make_pass_decorator(Project)


def date_argument(f: F) -> F:
    return click.argument("day", metavar="[DATE]", type=DATE, required=False)(f)


def _print_problems(problems: list[Problem], root: Path) -> None:
    for problem in problems:
        color = "red" if problem.severity == "error" else "yellow"
        click.secho(problem.format(root), fg=color, err=False)


def _refusal(settings: Settings, err: ContentError) -> NewsletterError:
    """The error to end on: a broken template is the configuration's fault (exit 2), the rest is content (1)."""
    templates = settings.templates_dir.resolve()
    for problem in errors(err.problems):
        path = problem.path.resolve()
        if path == templates or templates in path.parents:
            return ConfigError(f"{problem.format(settings.root)}", hint="fix the template, then run the command again")
    return err


def _summary(problems: list[Problem]) -> str:
    n_err = len(errors(problems))
    n_warn = len(problems) - n_err
    return f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project", "-C", type=click.Path(file_okay=False, path_type=Path), envvar="NEWSLETTER_PROJECT",
    help="Project folder (holding newsletter.toml). Default: the current folder or the nearest above it.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show progress and debugging information.")
@click.version_option(__version__, prog_name="newsletter")
@click.pass_context
def cli(ctx: click.Context, project: Path | None, verbose: bool) -> None:
    """Compose, check and send a daily email of five short news items."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Project(project)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(directory: Path) -> None:
    """Create a newsletter project in DIRECTORY: config, templates, a sample issue and a CSV.

    Example:

        newsletter init ma-lettre && cd ma-lettre && newsletter check 2026-11-24
    """
    created = init_project(directory)
    click.echo(f"Created a newsletter project in {directory} ({len(created)} files):")
    for path in created:
        click.echo(f"  {path}")
    click.echo(f"Next: edit {directory / 'newsletter.toml'}, then `newsletter new` to start today's issue.")


@cli.command()
@date_argument
@pass_project
def new(project: Project, day: date | None) -> None:
    """Create issues/DATE with issue.yaml and one stub per item.

    The stubs leave the required fields empty, so `check` lists what is left to write.

    Example:

        newsletter new 2026-11-25
    """
    settings = project.settings
    day = project.day(day)
    created = new_issue(settings.issues_dir, day, settings.newsletter.items_per_issue)
    click.echo(f"Created {len(created)} files in {created[0].parent}:")
    for path in created:
        click.echo(f"  {path.name}")
    click.echo(f"Write the items, then run `newsletter check {day.isoformat()}`.")


@cli.command()
@date_argument
@pass_project
def check(project: Project, day: date | None) -> None:
    """Check an issue and list every problem as file:line: message (exit 1 if any).

    Warnings (e.g. raw HTML that was removed) are listed but do not fail the check.

    Example:

        newsletter check 2026-11-24
    """
    settings = project.settings
    day = project.day(day)
    report = check_issue(settings, day, store=project.existing_store())
    _print_problems(report.problems, settings.root)
    folder = report.issue.folder.relative_to(settings.root)
    if not report.ok:
        raise _refusal(settings, ContentError(f"{folder}: {_summary(report.problems)}", report.problems,
                                              hint="fix the lines above, then run the check again"))
    from newsletter.approval import approval_state

    size = len(report.rendered.html.encode()) // 1024 if report.rendered else 0
    approval = approval_state(report.issue.folder)
    verdict, color = "ready", "green"
    if approval.state == "stale":
        shown = ", ".join(approval.changed[:5]) + (" …" if len(approval.changed) > 5 else "")
        verdict, color = f"approval stale ({shown} changed since); ready to approve again", "yellow"
    elif approval.state == "unreadable":
        verdict, color = "approval unreadable; ready to approve again", "yellow"
    elif settings.schedule.require_approval and not approval.current:
        verdict, color = "ready to approve", "yellow"
    click.secho(f"{folder}: {verdict} ({len(report.issue.items)} items, {size} KB of HTML, "
                f"{_summary(report.problems)})", fg=color)


@cli.command()
@date_argument
@click.option("--by", "by", metavar="NAME", help="Who approves (default: $NEWSLETTER_EDITOR, else the login name).")
@pass_project
def approve(project: Project, day: date | None, by: str | None) -> None:
    """Approve an issue for sending, as it is now (any later edit makes the approval stale).

    The issue must pass `check`. The approval, with the digest of every file, goes to
    issues/DATE/approval.yaml.

    Example:

        newsletter approve 2026-11-24 --by "Camille Martin"
    """
    import getpass
    import os

    from newsletter.approval import approve as record_approval

    settings = project.settings
    day = project.day(day)
    report = check_issue(settings, day)
    if not report.ok:
        _print_problems(report.problems, settings.root)
        raise _refusal(settings, ContentError(f"issue {day.isoformat()} does not pass the check; it cannot be "
                                              "approved", report.problems, hint="fix the lines above, then approve again"))
    name = by or os.environ.get("NEWSLETTER_EDITOR") or getpass.getuser()
    state = record_approval(report.issue.folder, name, datetime.now(settings.tz))
    click.secho(f"{state.path.relative_to(settings.root)}: {state.describe()}", fg="green")


@cli.command()
@date_argument
@pass_project
def build(project: Project, day: date | None) -> None:
    """Check and render an issue into out/DATE/: email.html, email.txt and sample.eml.

    The files are personalized for an example recipient; nothing is written if the check fails.

    Example:

        newsletter build 2026-11-24 && open out/2026-11-24/email.html
    """
    settings = project.settings
    day = project.day(day)
    try:
        result = build_issue(settings, day)
    except ContentError as err:
        _print_problems(err.problems, settings.root)
        raise _refusal(settings, err) from None
    _print_problems(result.report.problems, settings.root)
    click.echo(f"Built {day.isoformat()} into {result.folder}:")
    for path in result.files:
        click.echo(f"  {path.relative_to(result.folder)}  ({path.stat().st_size // 1024 or 1} KB)")


@cli.command()
@date_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@pass_project
def preview(project: Project, day: date | None, host: str, port: int) -> None:
    """Serve a live preview of an issue at 600 and 375 px; it rebuilds on every save.

    Example:

        newsletter preview 2026-11-24 --port 8025
    """
    from newsletter.web.preview import make_server

    settings = project.settings
    day = project.day(day)
    try:
        server = make_server(settings.root, day, host, port)
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror}", hint="choose another --port") from err
    url = f"http://{host}:{server.server_port}/"
    click.echo(f"Preview of {day.isoformat()} at {url} (Ctrl+C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        server.server_close()


@cli.group()
def subscribers() -> None:
    """Manage the subscriber list: import, export, list, add, remove.

    Example:

        newsletter subscribers import contacts.csv --dry-run
    """


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change, write nothing.")
@click.option("--source", default="import", show_default=True, help="Consent source for rows that name none.")
@click.option("--check-dns", is_flag=True, help="Also check that each address's domain accepts mail (slow).")
@pass_project
def subscribers_import(project: Project, file: Path, dry_run: bool, source: str, check_dns: bool) -> None:
    """Import subscribers from a CSV file (UTF-8 or Windows-1252; , ; or tab).

    Headers may be English or French (email/courriel, first_name/prénom, last_name/nom,
    consent_date, consent_source). Rejected rows are listed with their line. Unsubscribed,
    bounced and complained addresses are never reactivated. A file from `subscribers export`
    is restored as it was: statuses, consent and dates; a row whose status is unsubscribed,
    bounced or complained is a suppression. The import lands whole or not at all.

    Example:

        newsletter subscribers import export-crm.csv --source salon-2026
    """
    from newsletter.audience.csv_reader import read_subscriber_csv
    from newsletter.store.subscribers import import_rows

    settings = project.settings
    rows = read_subscriber_csv(file, check_dns=check_dns, default_timezone=settings.newsletter.timezone)
    summary = import_rows(project.store, rows, now=utc_now(), source=source, dry_run=dry_run)
    for rejected in summary.rejections:
        click.secho(f"{file}:{rejected.line}: {rejected.reason}", fg="yellow")
    if summary.rejected > len(summary.rejections):
        click.echo(f"… and {summary.rejected - len(summary.rejections)} more rejected rows")
    verb = "Would import" if dry_run else "Imported"
    click.echo(f"{verb} {file}: {summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
               f"{summary.duplicates} duplicates merged, {summary.kept_out} unsubscribed/bounced kept out, "
               f"{summary.rejected} rejected"
               + (f", {summary.suppressed} recorded as unsubscribed/bounced/complained (suppressions)."
                  if summary.suppressed else "."))
    if dry_run:
        click.echo("Nothing was written (--dry-run). Run it again without --dry-run to import.")


@subscribers.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--excel-fr", is_flag=True,
              help="For French Excel: ; separator and dates in the newsletter's time zone (DD/MM/YYYY HH:MM:SS).")
@pass_project
def subscribers_export(project: Project, file: Path, status: str | None, excel_fr: bool) -> None:
    """Export subscribers to a CSV file (UTF-8 with BOM, safe to open in a spreadsheet).

    Every status and the consent data are kept: importing the file into another store restores
    the list, and people who left stay out.

    Example:

        newsletter subscribers export abonnes.csv --excel-fr
    """
    from newsletter.audience.export import EXPORT_COLUMNS, write_subscriber_csv
    from newsletter.store.subscribers import list_subscribers

    settings = project.settings
    rows = ({c: getattr(s, c) for c in EXPORT_COLUMNS} for s in list_subscribers(project.store, status=status))
    count = write_subscriber_csv(file, rows, excel_fr=settings.tz if excel_fr else None)
    click.echo(f"Exported {count} subscribers to {file}" + (" (French Excel: ; and local dates)." if excel_fr
                                                            else "."))


@subscribers.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--search", metavar="TEXT", help="Only addresses containing TEXT (any case; xn-- domains match too).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Show at most N rows.")
@click.option("--all", "show_all", is_flag=True, help="Show every row (no limit).")
@pass_project
def subscribers_list(project: Project, status: str | None, search: str | None, limit: int, show_all: bool) -> None:
    """List subscribers (address, status, name), how many are shown, and the count per status.

    Example:

        newsletter subscribers list --search martin --status unsubscribed
    """
    from newsletter.store.subscribers import count_by_status, count_subscribers, list_subscribers

    shown = 0
    for s in list_subscribers(project.store, status=status, search=search, limit=None if show_all else limit):
        name = " ".join(p for p in (s.first_name, s.last_name) if p)
        click.echo(f"{s.email:<40} {s.status:<13} {name}")
        shown += 1
    matching = count_subscribers(project.store, status=status, search=search)
    if shown < matching:
        click.secho(f"{shown:,} of {matching:,} shown; --limit N or --all for more.", fg="yellow")
    elif (status or search) and not shown:
        click.echo("No subscriber matches.")
    counts = count_by_status(project.store)
    click.echo(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "No subscribers yet.")


@subscribers.command("add")
@click.argument("email")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@pass_project
def subscribers_add(project: Project, email: str, first_name: str, last_name: str) -> None:
    """Add one active subscriber (never one who unsubscribed).

    Example:

        newsletter subscribers add helene.martin@example.org --first-name Hélène
    """
    from newsletter.audience.fields import checked_name
    from newsletter.store.subscribers import add_subscriber

    address = _address_argument(email, "EMAIL")
    subscriber, created = add_subscriber(project.store, address, now=utc_now(),
                                         first_name=checked_name(first_name, "--first-name"),
                                         last_name=checked_name(last_name, "--last-name"))
    click.echo(f"{'Added' if created else 'Updated'} {subscriber.email}.")


@subscribers.command("remove")
@click.argument("email")
@pass_project
def subscribers_remove(project: Project, email: str) -> None:
    """Unsubscribe an address; the record stays as proof and as a suppression.

    Example:

        newsletter subscribers remove helene.martin@example.org
    """
    from newsletter.store.subscribers import unsubscribe

    subscriber = unsubscribe(project.store, _address_argument(email, "EMAIL"), now=utc_now())
    click.echo(f"Unsubscribed {subscriber.email}; they will not be mailed again.")


@cli.command()
@date_argument
@click.option("--test", "test_addresses", multiple=True, metavar="ADDR",
              help="Send only to this address (repeatable), marked [TEST], not recorded.")
@click.option("--dry-run", is_flag=True, help="Show the counts and one sample message; send nothing.")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most N messages in this run.")
@click.option("--at", "at", metavar="TIME",
              help='Do not send now: have `schedule run` send it once at this time, e.g. "2026-11-24 07:00".')
@click.option("--without-approval", "override", metavar="REASON",
              help="Send although [schedule] require_approval is set and the issue is not approved as it is; "
                   "the reason and your name are recorded and shown by `status`.")
@click.option("--by", "by", metavar="NAME", help="Who sends --without-approval (default: the login name).")
@pass_project
def send(project: Project, day: date | None, test_addresses: tuple[str, ...], dry_run: bool,
         limit: int | None, at: str | None, override: str | None, by: str | None) -> None:
    """Send an issue to every active subscriber who has not received it yet.

    Resumable and idempotent: run it again after a crash or an interruption and only the
    remaining subscribers are served; nobody gets the issue twice. Exit 1 if some messages
    failed or remain pending (see `newsletter status`). When [schedule] require_approval is
    set, an issue that is not approved as it is now is refused, unless --without-approval
    says why.

    Example:

        newsletter send 2026-11-24 --dry-run && newsletter send 2026-11-24
    """
    from newsletter.approval import approval_state, refusal
    from newsletter.content.load import issue_folder
    from newsletter.delivery.engine import dry_run as plan, render_checked_issue as prepare, send_test
    from newsletter.render.mime import Recipient

    settings = project.settings
    day = project.day(day)
    if override is not None:
        override = " ".join(override.split())  # one line, whatever was typed
        if not override or len(override) > 500:
            raise click.BadParameter("give the reason in one sentence (500 characters at most), e.g. "
                                     "--without-approval \"the editor is away; read by phone\"",
                                     param_hint="--without-approval")
    if at is not None:
        from newsletter.schedule import schedule_once

        when = _parse_time(at, settings)
        schedule_once(settings, project.store, day, when)
        click.echo(f"Issue {day.isoformat()} will be sent at {when:%Y-%m-%d %H:%M %Z} by `newsletter schedule run` "
                   "(the readiness gate applies).")
        return
    if test_addresses:
        # One copy per mailbox, however often or in whatever form it was typed.
        recipients = [Recipient(a) for a in dict.fromkeys(_address_argument(a, "--test") for a in test_addresses)]
        key = project.secret_key()
        results = _refused_by_content(settings, lambda: send_test(settings, day, recipients, secret_key=key))
        for recipient, result in zip(recipients, sorted(results, key=lambda r: r.key)):
            click.echo(f"[TEST] {recipient.email}: {'sent' if result.ok else 'failed: ' + result.error}")
        if not all(r.ok for r in results):
            raise DeliveryError("some test messages were not sent")
        return
    folder = issue_folder(settings.issues_dir, day)
    key = project.secret_key()  # a configuration error (exit 2) comes before the approval's refusal
    approval = approval_state(folder)
    required = settings.schedule.require_approval and folder.is_dir()  # a missing issue is reported as such
    if required and not approval.current and override is None and not dry_run:
        raise refusal(approval, day.isoformat())
    if dry_run:
        preview = _refused_by_content(settings, lambda: plan(settings, project.store, day, secret_key=key,
                                                              limit=limit))
        click.echo(f"Dry run for {day.isoformat()} through the {settings.delivery.adapter!r} adapter: "
                   f"{preview.recipients} would receive it now, {preview.already_served} already served.")
        if preview.recipients == 0:
            click.secho("0 recipients: nobody would receive it now (no active subscriber left to serve; see "
                        "`newsletter subscribers list`).", fg="yellow")
        gate = "" if approval.current or not required else \
            " — `newsletter send` will refuse it until it is approved (or --without-approval REASON)"
        click.secho(f"Approval: {approval.describe()}{gate}", fg="yellow" if gate else None)
        _show_sample(preview.sample, preview.sample_to)
        click.echo(f"--- Nothing was sent. Send for real with: newsletter send {day.isoformat()}")
        return
    _refuse_a_send_to_nobody(project, day)
    if required and not approval.current and override is not None:
        from newsletter.store.history import record_override

        rendered = _refused_by_content(settings, lambda: prepare(settings, day))
        who = " ".join((by or "").split())[:200] or _login_name()
        record_override(project.store, day, rendered.subject, by=who, reason=override, now=utc_now())
        click.secho(f"Sending without approval ({approval.describe()}), recorded as sent by {who}.", fg="yellow")
    elif override is not None:
        click.echo("The approval is in order (or not required); --without-approval changes nothing.")
    report = _refused_by_content(settings, lambda: _send_with_progress(project, day, key, limit))
    click.echo(_status_line(report))
    for status, reason, count in report.failures:
        click.secho(f"  {count:>6} {status}: {_reason(status, reason)}", fg="yellow" if status == "pending" else "red")
    if settings.delivery.adapter == "outbox":
        click.echo(f"Messages are in {settings.root / 'out' / 'outbox' / 'new'} (one .eml file each).")
    if report.failed_now or not report.complete:
        raise DeliveryError(f"{report.failed_now} failed, {report.pending} pending"
                            + (f", {report.in_flight} in flight" if report.in_flight else ""),
                            hint=f"see `newsletter status {day.isoformat()}`; run `newsletter send "
                                 f"{day.isoformat()}` again to resume")


def _reason(status: str, reason: str) -> str:
    """A ledger reason as the operator reads it: a pending row without one was simply not reached."""
    if reason:
        return reason
    return "not sent yet (the run stopped before them)" if status == "pending" else "(no reason recorded)"


def _refuse_a_send_to_nobody(project: Project, day: date) -> None:
    """A first send with no active subscriber is a forgotten import, not an issue sent to 0 people:
    refused before anything is recorded, so that history stays true and the next send goes out."""
    from newsletter.store import ledger
    from newsletter.store.subscribers import count_subscribers

    if ledger.find_send(project.store, day) is None and count_subscribers(project.store, status="active") == 0:
        raise DeliveryError(f"issue {day.isoformat()} has nobody to go to: there is no active subscriber; "
                            "nothing was sent",
                            hint="import the list with `newsletter subscribers import FILE` (or add one with "
                                 f"`newsletter subscribers add EMAIL`), then run `newsletter send {day.isoformat()}`")


R = TypeVar("R")


def _refused_by_content(settings: Settings, action: Callable[[], R]) -> R:
    """Run ``action``; a check that fails on a broken template ends as a configuration error (exit 2)."""
    try:
        return action()
    except ContentError as err:
        raise _refusal(settings, err) from None


def _login_name() -> str:
    """Who runs the command, as the system knows them (a container may have no name for the uid)."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _address_argument(text: str, option: str) -> str:
    """An address given on the command line, normalized; an invalid one is a usage error (exit 2)."""
    from newsletter.errors import UsageError
    from newsletter.addresses import canonical

    try:
        return canonical(text)
    except UsageError:
        raise
    except NewsletterError as err:
        raise UsageError(f"{option} {err}", hint=err.hint or "write a full address, e.g. camille@example.org") \
            from None


def _show_sample(data: bytes, to: str) -> None:
    """The sample's headers (decoded) and its text part as a reader sees it, not the MIME source."""
    import email
    import email.policy
    from email.message import EmailMessage

    message = email.message_from_bytes(data, policy=email.policy.default)
    click.echo(f"--- sample message for {to}: headers ---")
    for name, value in message.items():
        click.echo(f"{name}: {value}")
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if isinstance(part, EmailMessage) else ""
    lines = text.splitlines()
    click.echo(f"--- text part ({len(lines)} lines; the HTML part is in `newsletter build`'s email.html) ---")
    click.echo("\n".join(lines[:60]) + ("\n…" if len(lines) > 60 else ""))


def _parse_time(text: str, settings: Settings) -> datetime:
    """``YYYY-MM-DD HH:MM[:SS]`` in the schedule's time zone (or with an explicit offset)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("T", " "))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time; write it as \"YYYY-MM-DD HH:MM\", e.g. "
                                 "\"2026-11-24 07:00\"", param_hint="--at") from None
    return when if when.tzinfo else when.replace(tzinfo=settings.schedule_tz)


def _send_with_progress(project: Project, day: date, key: str, limit: int | None) -> "SendReport":
    """Run the send with a progress display; SIGTERM ends it cleanly after the messages in hand."""
    import signal
    import threading

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        return _send_with_display(project, day, key, limit, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _send_with_display(project: Project, day: date, key: str, limit: int | None,
                       stop: "threading.Event") -> "SendReport":
    from newsletter.delivery.engine import send_issue

    if not sys.stdout.isatty():
        started = last = time.monotonic()
        done = 0

        def log_line(n: int) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last >= 5:
                last = now
                click.echo(f"{day.isoformat()}: {done} recipients settled ({done / (now - started):.0f}/s)")

        return send_issue(project.settings, project.store, day, secret_key=key, limit=limit, progress=log_line,
                          stop=stop)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]:>7.0f}/s"), TimeRemainingColumn()) as bar:
        task = bar.add_task(f"Sending {day.isoformat()}", total=None, rate=0.0)
        started = time.monotonic()
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            bar.update(task, advance=n, rate=done / max(1e-6, time.monotonic() - started))

        from newsletter.store import ledger

        send_id = ledger.find_send(project.store, day)
        if send_id is not None:
            counts = ledger.counts(project.store, send_id)
            bar.update(task, total=counts.get("pending", 0) + counts.get("queued", 0) or None)
        return send_issue(project.settings, project.store, day, secret_key=key, limit=limit, progress=progress,
                          stop=stop)


def _status_line(report: "SendReport") -> str:
    c = report.counts  # every state is named, so that the figures add up to the total
    return (f"Issue {report.day.isoformat()}: {c.get('sent', 0)} sent, {c.get('failed', 0)} failed, "
            f"{report.pending} pending, {report.in_flight} in flight, {c.get('uncertain', 0)} uncertain, "
            f"{c.get('skipped', 0)} skipped, {report.total} in all (this run: {report.sent_now} sent in {report.elapsed:.1f} s"
            + (f"; stopped: {report.stopped}" if report.stopped else "") + ").")


@cli.command()
@date_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def status(project: Project, day: date | None, as_json: bool) -> None:
    """Show what was sent and when, what failed (grouped by reason), what is pending, and the schedule.

    Exit 1 when the day needs the operator: the scheduler is waiting or skipped it, or it is
    due (or past due) and not ready or not sent.

    Example:

        newsletter status 2026-11-24 --json
    """
    from newsletter.approval import approval_state
    from newsletter.content.load import issue_folder
    from newsletter.day_state import day_state
    from newsletter.store import ledger
    from newsletter.store.history import send_record

    settings = project.settings
    day = project.day(day)
    send_id = ledger.find_send(project.store, day)
    record = send_record(project.store, day)
    counts = ledger.counts(project.store, send_id) if send_id else {}
    reasons = ledger.failures(project.store, send_id, ["failed", "uncertain", "pending"]) if send_id else []
    approval = approval_state(issue_folder(settings.issues_dir, day))
    state = day_state(settings, project.store, day, utc_now())
    tz = settings.tz

    def moment(value: datetime | None) -> str | None:
        return value.astimezone(tz).isoformat(timespec="seconds") if value else None

    if as_json:
        click.echo(json.dumps({
            "date": day.isoformat(), "started": send_id is not None, "counts": counts,
            "started_at": moment(record.started_at) if record else None,
            "finished_at": moment(record.finished_at) if record else None,
            "problems": [{"status": s, "reason": r, "count": n} for s, r, n in reasons],
            "approval": {"state": approval.state, "by": approval.approved_by, "at": approval.approved_at,
                         "changed": approval.changed},
            "without_approval": {"by": record.override_by, "reason": record.override_reason,
                                 "at": moment(record.override_at)} if record and record.override_by else None,
            "schedule": {"state": state.dispatch or state.gate, "gate": state.gate, "reason": state.reason,
                         "due": moment(state.due), "dispatch": state.dispatch,
                         "dispatch_reason": state.dispatch_reason, "attention": state.alarm or None},
        }, ensure_ascii=False, indent=2))
    else:
        if record is None:
            click.echo(f"Issue {day.isoformat()} has not been sent.")
        else:
            ended = (f", finished {record.finished_at.astimezone(tz):%Y-%m-%d %H:%M:%S %Z}" if record.finished_at
                     else ", not finished")
            click.echo(f"Issue {day.isoformat()}: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
                                                       or "no recipient")
                       + f" (started {record.started_at.astimezone(tz):%Y-%m-%d %H:%M:%S %Z}{ended}).")
        for status_name, reason, count in reasons:
            click.echo(f"  {count:>6} {status_name}: {_reason(status_name, reason)}")
        click.echo(f"Approval: {approval.describe()}")
        if record is not None and record.override_by:
            when = f" on {record.override_at.astimezone(tz):%Y-%m-%d %H:%M %Z}" if record.override_at else ""
            click.secho(f"Sent without approval by {record.override_by}{when}: {record.override_reason}",
                        fg="yellow")
        if state.dispatch is not None:
            click.secho(f"Schedule: {state.dispatch}" + (f" — {state.dispatch_reason}" if state.dispatch_reason
                                                         else ""), fg="red" if state.alarm else None)
        due = f"due {state.due:%a %Y-%m-%d %H:%M %Z}" if state.due else "no due time that day"
        click.secho(f"Gate: {state.gate}" + (f" — {state.reason}" if state.reason else "") + f" ({due})",
                    fg="red" if state.alarm else None)
        if state.alarm:
            click.secho(f"Attention: {state.alarm}.", fg="red")
    if state.alarm:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True, help="How many issues.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def history(project: Project, limit: int, as_json: bool) -> None:
    """List the issues sent, newest first: date, subject, recipients, sent, failed, bounced,
    unsubscribed since.

    Example:

        newsletter history --limit 10
    """
    from newsletter.store.history import history as sent_issues

    tz = project.settings.tz
    rows = sent_issues(project.store, limit=limit)
    if as_json:
        click.echo(json.dumps([{
            "date": r.day.isoformat(), "subject": r.subject, "recipients": r.recipients, "sent": r.sent,
            "failed": r.failed, "bounced": r.bounced, "unsubscribed_since": r.unsubscribed,
            "started_at": r.started_at.astimezone(tz).isoformat(timespec="seconds"),
            "finished_at": r.finished_at.astimezone(tz).isoformat(timespec="seconds") if r.finished_at else None,
            "without_approval_by": r.override_by or None,
        } for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("No issue has been sent yet.")
        return
    click.echo(f"{'date':<10}  {'recipients':>10} {'sent':>8} {'failed':>7} {'bounced':>7} {'unsub.':>7}  subject")
    for r in rows:
        mark = " (without approval)" if r.override_by else ""
        mark += "" if r.finished_at else " (not finished)"
        click.echo(f"{r.day.isoformat():<10}  {r.recipients:>10,} {r.sent:>8,} {r.failed:>7,} {r.bounced:>7,} "
                   f"{r.unsubscribed:>7,}  {r.subject}{mark}")


@cli.group()
def schedule() -> None:
    """Send each day's issue at its hour (see [schedule] in newsletter.toml): run, show.

    Example:

        newsletter schedule show && newsletter schedule run
    """


@schedule.command("run")
@pass_project
def schedule_run(project: Project) -> None:
    """Run the scheduler in the foreground (for systemd or a container) until SIGTERM or Ctrl+C.

    At each due time it checks the day's issue (folder, check, approval, not sent yet) and
    sends it, or alerts [schedule] alert_to and tries again until the grace period ends.
    One JSON log line per event on stderr.

    Example:

        NEWSLETTER_SECRET_KEY=… newsletter schedule run
    """
    import signal
    import threading

    from newsletter.schedule import JsonLines, Scheduler, log_thread_crashes

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())  # journald adds the time
    for root_handler in logging.getLogger().handlers:  # anything else that logs: JSON too
        root_handler.setFormatter(JsonLines())
    log_thread_crashes()
    for name in ("newsletter", "apscheduler"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    settings = project.settings
    scheduler = Scheduler(settings, project.store, project.secret_key())
    done = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
    try:
        while not done.wait(1.0):
            pass
    finally:
        scheduler.shutdown()


@schedule.command("show")
@click.option("--count", type=click.IntRange(1, 60), default=5, show_default=True, help="How many due times.")
@pass_project
def schedule_show(project: Project, count: int) -> None:
    """List the next due times (in the schedule's time zone) and the state of each issue.

    Example:

        newsletter schedule show --count 10
    """
    from newsletter.schedule import next_runs, readiness, stored_jobs

    settings = project.settings
    tz = settings.schedule_tz
    click.echo(f"Schedule {settings.schedule.cron!r} in {tz.key}, approval "
               f"{'required' if settings.schedule.require_approval else 'not required'}, "
               f"grace {settings.schedule.grace_minutes} min:")
    for fire in next_runs(settings, datetime.now(timezone.utc), count):
        gate = readiness(settings, project.store, fire.date())
        color = {"ready": "green", "sent": "green", "missing": "red", "failing": "red"}.get(gate.state, "yellow")
        click.secho(f"  {fire:%a %Y-%m-%d %H:%M %Z}  {gate.state:<16} {gate.reason}", fg=color)
    for name, when in stored_jobs(settings, project.store):
        click.echo(f"  {name}: {when.astimezone(tz):%a %Y-%m-%d %H:%M %Z}" if when else f"  {name}: paused")


@cli.command()
@click.option("--host", help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [web] port, 8080).")
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True, help="Worker threads.")
@pass_project
def serve(project: Project, host: str | None, port: int | None, threads: int) -> None:
    """Run the public web service: one-click unsubscribe, subscription with confirmation, archive.

    Meant to sit behind a reverse proxy that serves [newsletter] base_url over https.

    Example:

        NEWSLETTER_SECRET_KEY=… newsletter serve --port 8080
    """
    from newsletter.web.app import create_app
    from newsletter.web.server import create_server

    settings = project.settings
    host = host or settings.web.host
    port = port or settings.web.port
    app = create_app(settings, project.store, project.secret_key(listen=host))
    logging.getLogger("newsletter").setLevel(logging.INFO)
    server = create_server(app, settings, host=host, port=port, threads=threads)
    click.echo(f"Serving {settings.newsletter.base_url} on http://{host}:{port}/ (Ctrl+C to stop)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _hint(err: NewsletterError) -> None:
    if err.hint:
        click.secho(f"hint: {err.hint}", fg="cyan", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to exit codes (see the module docstring)."""
    try:
        code = cli.main(args=argv, prog_name="newsletter", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return 2
    except NewsletterError as err:
        click.secho(f"error: {err}", fg="red", err=True)
        _hint(err)
        return err.exit_code
    return code if isinstance(code, int) else 0  # a command's Exit(n) comes back as a value here

