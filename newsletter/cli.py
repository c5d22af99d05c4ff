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

    from newsletter.dispatch import SendReport
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

    def secret_key(self) -> str:
        """``NEWSLETTER_SECRET_KEY``, refused when short, repetitive or published (exit 2).

        Only the demo's local outbox (nothing leaves the machine) accepts such a key, with a warning.
        """
        from newsletter.tokens import check_secret_key, key_weakness

        key = secret_from_env(SECRET_KEY_ENV, purpose="key that signs unsubscribe links")
        local_demo = self.settings.delivery.adapter == "outbox"
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
    report = check_issue(settings, day)
    _print_problems(report.problems, settings.root)
    folder = report.issue.folder.relative_to(settings.root)
    if not report.ok:
        raise ContentError(f"{folder}: {_summary(report.problems)}",
                           hint="fix the lines above, then run the check again")
    size = len(report.rendered.html.encode()) // 1024 if report.rendered else 0
    click.secho(f"{folder}: ready ({len(report.issue.items)} items, {size} KB of HTML, "
                f"{_summary(report.problems)})", fg="green")


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
        raise ContentError(f"issue {day.isoformat()} does not pass the check; it cannot be approved",
                           hint="fix the lines above, then approve again")
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
        raise
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
    bounced and complained addresses are never reactivated. The import lands whole or not at all.

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
               f"{summary.rejected} rejected.")
    if dry_run:
        click.echo("Nothing was written (--dry-run). Run it again without --dry-run to import.")


@subscribers.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@pass_project
def subscribers_export(project: Project, file: Path, status: str | None) -> None:
    """Export subscribers to a CSV file (UTF-8 with BOM, safe to open in a spreadsheet).

    Example:

        newsletter subscribers export abonnes.csv --status active
    """
    from newsletter.audience.export import write_subscriber_csv
    from newsletter.store.subscribers import list_subscribers

    rows = ({c: getattr(s, c) for c in ("email", "first_name", "last_name", "status", "consent_at",
                                          "consent_source", "created_at", "unsubscribed_at")}
            for s in list_subscribers(project.store, status=status))
    count = write_subscriber_csv(file, rows)
    click.echo(f"Exported {count} subscribers to {file}.")


@subscribers.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@pass_project
def subscribers_list(project: Project, status: str | None, limit: int) -> None:
    """List subscribers (address, status, name) and the count per status.

    Example:

        newsletter subscribers list --status unsubscribed
    """
    from newsletter.store.subscribers import count_by_status, list_subscribers

    for s in list_subscribers(project.store, status=status, limit=limit):
        name = " ".join(p for p in (s.first_name, s.last_name) if p)
        click.echo(f"{s.email:<40} {s.status:<13} {name}")
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
    from newsletter.store.subscribers import add_subscriber

    subscriber, created = add_subscriber(project.store, email, now=utc_now(), first_name=first_name,
                                         last_name=last_name)
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

    subscriber = unsubscribe(project.store, email, now=utc_now())
    click.echo(f"Unsubscribed {subscriber.email}; they will not be mailed again.")


@cli.command()
@date_argument
@click.option("--test", "test_addresses", multiple=True, metavar="ADDR",
              help="Send only to this address (repeatable), marked [TEST], not recorded.")
@click.option("--dry-run", is_flag=True, help="Show the counts and one sample message; send nothing.")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most N messages in this run.")
@click.option("--at", "at", metavar="TIME",
              help='Do not send now: have `schedule run` send it once at this time, e.g. "2026-11-24 07:00".')
@pass_project
def send(project: Project, day: date | None, test_addresses: tuple[str, ...], dry_run: bool,
         limit: int | None, at: str | None) -> None:
    """Send an issue to every active subscriber who has not received it yet.

    Resumable and idempotent: run it again after a crash or an interruption and only the
    remaining subscribers are served; nobody gets the issue twice. Exit 1 if some messages
    failed or remain pending (see `newsletter status`).

    Example:

        newsletter send 2026-11-24 --dry-run && newsletter send 2026-11-24
    """
    from newsletter.dispatch import dry_run as plan, send_test
    from newsletter.render.mime import Recipient
    from newsletter.store.subscribers import normalize_address

    settings = project.settings
    day = project.day(day)
    if at is not None:
        from newsletter.schedule import schedule_once

        when = _parse_time(at, settings)
        schedule_once(settings, project.store, day, when)
        click.echo(f"Issue {day.isoformat()} will be sent at {when:%Y-%m-%d %H:%M %Z} by `newsletter schedule run` "
                   "(the readiness gate applies).")
        return
    key = project.secret_key()
    if test_addresses:
        recipients = [Recipient(normalize_address(a)) for a in test_addresses]
        results = send_test(settings, day, recipients, secret_key=key)
        for recipient, result in zip(recipients, sorted(results, key=lambda r: r.key)):
            click.echo(f"[TEST] {recipient.email}: {'sent' if result.ok else 'failed: ' + result.error}")
        if not all(r.ok for r in results):
            raise DeliveryError("some test messages were not sent")
        return
    if dry_run:
        preview = plan(settings, project.store, day, secret_key=key, limit=limit)
        click.echo(f"Dry run for {day.isoformat()} through the {settings.delivery.adapter!r} adapter: "
                   f"{preview.recipients} would receive it now, {preview.already_served} already served.")
        click.echo(f"--- sample message for {preview.sample_to} (first 40 lines) ---")
        click.echo("\n".join(preview.sample.decode("ascii").splitlines()[:40]))
        click.echo(f"--- Nothing was sent. Send for real with: newsletter send {day.isoformat()}")
        return
    report = _send_with_progress(project, day, key, limit)
    click.echo(_status_line(report))
    for status, reason, count in report.failures:
        click.secho(f"  {count:>6} {status}: {reason}", fg="yellow" if status == "pending" else "red")
    if settings.delivery.adapter == "outbox":
        click.echo(f"Messages are in {settings.root / 'out' / 'outbox' / 'new'} (one .eml file each).")
    if report.failed_now or report.pending:
        raise DeliveryError(f"{report.failed_now} failed, {report.pending} pending",
                            hint=f"see `newsletter status {day.isoformat()}`; run `newsletter send "
                                 f"{day.isoformat()}` again to resume")


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
    from newsletter.dispatch import send_issue

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
    c = report.counts
    return (f"Issue {report.day.isoformat()}: {c.get('sent', 0)} sent, {c.get('failed', 0)} failed, "
            f"{report.pending} pending, {c.get('uncertain', 0)} uncertain, {c.get('skipped', 0)} skipped "
            f"(this run: {report.sent_now} sent in {report.elapsed:.1f} s"
            + (f"; stopped: {report.stopped}" if report.stopped else "") + ").")


@cli.command()
@date_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def status(project: Project, day: date | None, as_json: bool) -> None:
    """Show what was sent, what failed (grouped by reason) and what is pending.

    Example:

        newsletter status 2026-11-24 --json
    """
    from newsletter.store import ledger

    from newsletter.approval import approval_state
    from newsletter.content.load import issue_folder
    from newsletter.schedule import dispatch_record

    settings = project.settings
    day = project.day(day)
    send_id = ledger.find_send(project.store, day)
    counts = ledger.counts(project.store, send_id) if send_id else {}
    reasons = ledger.failures(project.store, send_id, ["failed", "uncertain", "pending"]) if send_id else []
    approval = approval_state(issue_folder(settings.issues_dir, day))
    dispatch = dispatch_record(project.store, day)
    alarm = dispatch is not None and dispatch["state"] in ("waiting", "skipped")
    if as_json:
        click.echo(json.dumps({
            "date": day.isoformat(), "started": send_id is not None, "counts": counts,
            "problems": [{"status": s, "reason": r, "count": n} for s, r, n in reasons],
            "approval": {"state": approval.state, "by": approval.approved_by, "at": approval.approved_at,
                         "changed": approval.changed},
            "schedule": None if dispatch is None else {"state": dispatch["state"], "reason": dispatch["reason"]},
        }, ensure_ascii=False, indent=2))
    else:
        if send_id is None:
            click.echo(f"Issue {day.isoformat()} has not been sent.")
        else:
            click.echo(f"Issue {day.isoformat()}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        for status_name, reason, count in reasons:
            click.echo(f"  {count:>6} {status_name}: {reason or '(no reason recorded)'}")
        click.echo(f"Approval: {approval.describe()}")
        if dispatch is not None:
            click.secho(f"Schedule: {dispatch['state']}" + (f" — {dispatch['reason']}" if dispatch["reason"] else ""),
                        fg="red" if alarm else None)
    if alarm:
        raise click.exceptions.Exit(1)


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

    from newsletter.schedule import Scheduler

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))  # journald adds the time
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
    app = create_app(settings, project.store, project.secret_key())
    host = host or settings.web.host
    port = port or settings.web.port
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
    except ConfigError as err:
        click.secho(f"error: {err}", fg="red", err=True)
        _hint(err)
        return 2
    except NewsletterError as err:
        click.secho(f"error: {err}", fg="red", err=True)
        _hint(err)
        return 1
    return code if isinstance(code, int) else 0  # a command's Exit(n) comes back as a value here

