"""The ``newsletter`` command: parses arguments, calls the library, prints the outcome.

Exit codes: 0 success, 1 content or delivery problems, 2 usage or configuration errors.
Every :class:`NewsletterError` is caught here, once, and printed with its hint; a
traceback is a bug.

What it prints speaks the language of the person at the terminal (``LC_ALL``, ``LC_MESSAGES``,
``LANG``: French for a French locale, else English): write ``_("Created %(n)s files", n=...)`` or
``ngettext(...)`` here, print a library error or problem with ``said(err)``, then ``make messages``.
``--help`` speaks it too: each command's docstring and each ``help=`` text is its own msgid (extracted by
``frontends/click_words.py``), said when the help is shown (:class:`SpokenCommand`).
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import os
import sys
import time
from datetime import date, datetime
from functools import update_wrapper
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from newsletter import __version__
from newsletter.errors import N_, ContentError, DeliveryError, NewsletterError, UsageError
from newsletter.library import (
    UNCERTAIN_SHOWN,
    BrokenTemplateError,
    Newsletter,
    Verdict,
    checked_address,
    checked_name,
    checked_reason,
    diagnose,
    log_events_as_json,
    make_dkim_key,
)

if TYPE_CHECKING:
    import threading

    from newsletter.library import (Clock, HistoryRow, IssueStatus, Problem, SendClearance, SendReport, Translatable,
                                    Words)

#: Subscriber statuses (newsletter.store.models.SubscriberStatus), listed here to keep start-up light.
STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")
H = TypeVar("H", bound="click.Command | click.Parameter")


def _spoken() -> "Words":
    """The catalog of the terminal's language (read each time: tests and ``env`` change the locale)."""
    from newsletter.library import user_locale, words  # loaded when a command first speaks: --help stays light

    return words(user_locale(os.environ))


def _(msgid: str, /, **values: Any) -> str:
    """``msgid`` in the terminal's language, its ``%(name)s`` filled from ``values`` (``make messages``
    extracts it); a :class:`Translatable` value (a ``Quoted`` one) is said in the same language."""
    gettext = _spoken().translations.gettext
    text = gettext(msgid)
    return text % {k: v.text(gettext) if hasattr(v, "text") else v for k, v in values.items()} if values else text


def ngettext(singular: str, plural: str, num: int, /, **values: Any) -> str:
    """The singular or plural form for ``num`` in the terminal's language (``%(num)d`` is ``num``)."""
    return _spoken().translations.ngettext(singular, plural, num) % {"num": num, **values}


def _summary(problems: "list[Problem]") -> str:
    """"1 error, 2 warnings" in the terminal's language."""
    errors = sum(p.severity == "error" for p in problems)
    return ", ".join((ngettext("%(num)d error", "%(num)d errors", errors),
                      ngettext("%(num)d warning", "%(num)d warnings", len(problems) - errors)))


def said(thing: "Translatable") -> str:
    """A library error, problem or message in the terminal's language (English when the catalog lacks it)."""
    return thing.text(_spoken().translations.gettext)


def _in_words(thing: H) -> H:
    """A copy of a command or an option whose help texts are in the terminal's language (the English text, as
    click cleans it, is the msgid; a text the catalog lacks stays English)."""
    spoken = copy.copy(thing)
    for attribute in ("help", "short_help"):
        english = getattr(thing, attribute, None)
        if english:
            setattr(spoken, attribute, _(inspect.cleandoc(english)))
    return spoken


class SpokenCommand(click.Command):
    """A command whose ``--help`` (its text, its parameters' texts, its subcommands' lines) and line in its group's
    list are said in the terminal's language when they are shown, not when the module is imported (the locale
    may have changed since)."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return super(SpokenCommand, _in_words(self)).get_short_help_str(limit)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        spoken = _in_words(self)
        spoken.get_params = lambda ctx: [_in_words(param) for param in self.get_params(ctx)]  # type: ignore[method-assign]
        super(SpokenCommand, spoken).format_help(ctx, formatter)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:  # click words it once per command, in the locale of that moment: keep the msgid
            option.help = "Show this message and exit."
        return option


class SpokenGroup(SpokenCommand, click.Group):
    """A group of :class:`SpokenCommand` (and of groups like itself), said likewise."""

    command_class = SpokenCommand
    group_class = type  # its subgroups are SpokenGroups


class IssueArgument(click.ParamType):
    """An issue: ``YYYY-MM-DD`` (the daily issue) or ``YYYY-MM-DD-SLUG`` (a special edition); absent
    means today's daily issue in the newsletter's time zone."""

    name = "ISSUE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        from newsletter.library import IssueId, Quoted

        if isinstance(value, date):
            return value
        try:
            return IssueId.parse(str(value))
        except UsageError as err:
            try:
                date.fromisoformat(str(value).strip()[:10])
            except ValueError:
                self.fail(_("%(value)s is not a date; write it as YYYY-MM-DD, e.g. 2026-11-24", value=Quoted(value)),
                          param, ctx)
            self.fail(f"{said(err)} ({err.hint_text(_spoken().translations.gettext)})" if err.hint else said(err),
                      param, ctx)


DATE = IssueArgument()


class LazyNewsletter:
    """The project folder chosen with ``--project``, opened as a :class:`Newsletter` when a command
    first needs it (``init`` needs no project, ``--help`` reads nothing)."""

    def __init__(self, path: Path | None, clock: Clock | None = None) -> None:
        self.path = path
        self.clock = clock
        self._newsletter: Newsletter | None = None

    @property
    def nl(self) -> Newsletter:
        if self._newsletter is None:
            self._newsletter = Newsletter.open(self.path, clock=self.clock)
        return self._newsletter

    def close(self) -> None:
        if self._newsletter is not None:
            self._newsletter.close()


def pass_newsletter(f: F) -> F:
    """Hand the command the project's :class:`Newsletter` (opened when the command runs)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        project = ctx.find_object(LazyNewsletter)
        assert project is not None  # the group's callback put it there
        return ctx.invoke(f, project.nl, *args, **kwargs)

    return update_wrapper(wrapper, f)  # type: ignore[return-value]


def _secret_key(nl: Newsletter, *, listen: str | None = None) -> None:
    """Read and check the key before the command works, and say when a weak one is let through."""
    key = nl.secret_key(listen=listen)
    if key.warning:
        click.secho(_("warning: %(message)s", message=said(key.warning)), fg="yellow", err=True)


def _run_until_interrupted(server: Any) -> None:
    """Serve until Ctrl+C (or SIGTERM through waitress), then close the listening socket."""
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def date_argument(f: F) -> F:
    return click.argument("day", metavar="[ISSUE]", type=DATE, required=False)(f)


def _print_problems(problems: list[Problem], root: Path) -> None:
    for problem in problems:
        color = "red" if problem.severity == "error" else "yellow"
        where, what = problem.location(root), said(problem)
        line = _("%(where)s: warning: %(what)s", where=where, what=what) if problem.severity == "warning" else \
            _("%(where)s: %(what)s", where=where, what=what)
        click.secho(line, fg=color, err=False)


@click.group(cls=SpokenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project", "-C", type=click.Path(file_okay=False, path_type=Path), envvar="NEWSLETTER_PROJECT",
    help="Project folder (holding newsletter.toml). Default: the current folder or the nearest above it.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show progress and debugging information.")
@click.version_option(__version__, prog_name="newsletter", help="Show the version and exit.")
@click.pass_context
def cli(ctx: click.Context, project: Path | None, verbose: bool) -> None:
    """Compose, check and send a daily email of five short news items."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = LazyNewsletter(project, clock=ctx.obj)  # main() hands over its clock as the context's object
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(directory: Path) -> None:
    """Create a newsletter project in DIRECTORY: config, templates, a sample issue and a CSV.

    Example:

        newsletter init ma-lettre && cd ma-lettre && newsletter check 2026-11-24
    """
    created = Newsletter.create(directory)
    click.echo(ngettext("Created a newsletter project in %(directory)s (%(num)d file):",
                        "Created a newsletter project in %(directory)s (%(num)d files):", len(created),
                        directory=directory))
    for path in created:
        click.echo(f"  {path}")
    click.echo(_("Next: edit %(file)s, then `newsletter new` to start today's issue.",
                 file=directory / "newsletter.toml"))


@cli.command()
@date_argument
@click.option("--edition", metavar="SLUG", help="Create the special edition issues/DATE-SLUG/ (lowercase letters, "
                                                "digits, hyphens), sent only by `send DATE-SLUG`.")
@pass_newsletter
def new(nl: Newsletter, day: date | None, edition: str | None) -> None:
    """Create issues/DATE with issue.yaml and one stub per item.

    The stubs leave the required fields empty, so `check` lists what is left to write. With
    --edition, a special edition of that date: its own folder, approval, send, archive page and
    feed entry; the daily schedule never sends it.

    Example:

    \b
        newsletter new 2026-11-25
        newsletter new 2026-12-07 --edition speciale
    """
    day = nl.edition(day, edition) if edition is not None else day or nl.today()
    created = nl.new_issue(day)
    click.echo(ngettext("Created %(num)d file in %(folder)s:", "Created %(num)d files in %(folder)s:",
                        len(created), folder=created[0].parent))
    for path in created:
        click.echo(f"  {path.name}")
    click.echo(_("Write the items, then run `newsletter check %(date)s`.", date=day.isoformat()))


@cli.command()
@date_argument
@click.option("--links", is_flag=True, help="Also fetch every link: dead ones are errors, moved ones warnings "
                                           "(results kept a day).")
@pass_newsletter
def check(nl: Newsletter, day: date | None, links: bool) -> None:
    """Check an issue and list every problem as file:line: message (exit 1 if any).

    Warnings (e.g. raw HTML that was removed) are listed but do not fail the check. Without
    --links the check makes no request.

    Example:

        newsletter check 2026-11-24 --links
    """
    result = nl.check(day, links=links)
    _print_problems(result.problems, nl.settings.root)
    if result.sent_at is not None:
        when = _moment(result.sent_at, nl.settings.tz)
        click.secho(_("%(folder)s: warning: this issue was sent on %(when)s; an edit changes neither what its "
                      "readers got nor its page in the public archive", folder=result.folder, when=when), fg="yellow")
    if result.refusal is not None:
        raise result.refusal
    verdict, color = _("ready"), "green"
    if result.verdict is Verdict.APPROVAL_STALE:
        changed = result.approval.changed
        shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
        verdict, color = _("approval stale (%(files)s changed since); ready to approve again", files=shown), "yellow"
    elif result.verdict is Verdict.APPROVAL_UNREADABLE:
        verdict, color = _("approval unreadable; ready to approve again"), "yellow"
    elif result.verdict is Verdict.READY_TO_APPROVE:
        verdict, color = _("ready to approve"), "yellow"
    click.secho(_("%(folder)s: %(verdict)s (%(items)s, %(size)d KB of HTML, %(summary)s)", folder=result.folder,
                  verdict=verdict, items=ngettext("%(num)d item", "%(num)d items", result.items),
                  size=result.html_bytes // 1024, summary=_summary(result.problems)), fg=color)


@cli.command()
@date_argument
@click.option("--from", "urls", metavar="URL", multiple=True, help="A page to draft an item from (repeatable).")
@click.option("--feed", metavar="URL", help="An RSS or Atom feed: its newest entries not used lately, up to the "
                                             "free items.")
@pass_newsletter
def draft(nl: Newsletter, day: date | None, urls: tuple[str, ...], feed: str | None) -> None:
    """Write item files prefilled from pages' metadata: title, source, canonical url, image.

    The page's description becomes the item's text as a starting point: `check` refuses it until
    it is rewritten in your own words. Every page is fetched before anything is written.

    Example:

        newsletter draft 2026-11-24 --from https://www.example.org/etude
    """
    if bool(urls) == bool(feed):
        raise click.UsageError(_("give --from URL (once or more) or --feed URL, not both"))
    result = nl.draft(day, urls=urls, feed=feed)
    for note in result.notes:
        click.secho(_("note: %(note)s", note=said(note)), fg="yellow")
    day_text = (day or nl.today()).isoformat()
    if not result.files:
        click.echo(_("Nothing drafted for %(date)s: every entry of the feed was used lately, or none could be read.",
                     date=day_text))
        return
    for name in result.files:
        click.echo(_("Drafted %(file)s", file=nl.issues.folder(day or nl.today()).relative_to(nl.settings.root) / name))
    click.echo(_("Rewrite each text in your own words, then run `newsletter check %(date)s`.", date=day_text))


@cli.command()
@date_argument
@click.option("--by", "by", metavar="NAME", help="Who approves (default: $NEWSLETTER_EDITOR, else the login name).")
@pass_newsletter
def approve(nl: Newsletter, day: date | None, by: str | None) -> None:
    """Approve an issue for sending, as it is now (any later edit makes the approval stale).

    The issue must pass `check`. The approval, with the digest of every file, goes to
    issues/DATE/approval.yaml.

    Example:

        newsletter approve 2026-11-24 --by "Camille Martin"
    """
    try:
        state = nl.approve(day, by=by)
    except (ContentError, BrokenTemplateError) as err:
        _print_problems(err.problems, nl.settings.root)
        raise
    click.secho(_("%(where)s: %(what)s", where=state.path.relative_to(nl.settings.root), what=said(state)),
                fg="green")


@cli.command()
@date_argument
@pass_newsletter
def build(nl: Newsletter, day: date | None) -> None:
    """Check and render an issue into out/DATE/: email.html, email.txt and sample.eml.

    The files are personalized for an example recipient; nothing is written if the check fails.

    Example:

        newsletter build 2026-11-24 && open out/2026-11-24/email.html
    """
    day = day or nl.today()
    try:
        result = nl.build(day)
    except (ContentError, BrokenTemplateError) as err:
        _print_problems(err.problems, nl.settings.root)
        raise
    _print_problems(result.report.problems, nl.settings.root)
    click.echo(_("Built %(date)s into %(folder)s:", date=day.isoformat(), folder=result.folder))
    for path in result.files:
        click.echo(_("  %(file)s  (%(size)d KB)", file=path.relative_to(result.folder),
                     size=path.stat().st_size // 1024 or 1))


@cli.command()
@date_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@pass_newsletter
def preview(nl: Newsletter, day: date | None, host: str, port: int) -> None:
    """Serve a live preview of an issue at 600 and 375 px; it rebuilds on every save.

    Example:

        newsletter preview 2026-11-24 --port 8025
    """
    day = day or nl.today()
    from newsletter.frontends.web.preview import preview_server  # the command line launches the other front ends

    server = preview_server(nl, day, host=host, port=port)
    url = f"http://{host}:{server.server_port}/"
    click.echo(_("Preview of %(date)s at %(url)s (Ctrl+C to stop)", date=day.isoformat(), url=url))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo(_("Stopped."))
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
@click.option("--welcome", is_flag=True, help="Send the welcome mail to every address the import adds.")
@pass_newsletter
def subscribers_import(nl: Newsletter, file: Path, dry_run: bool, source: str, check_dns: bool,
                       welcome: bool) -> None:
    """Import subscribers from a CSV file (UTF-8 or Windows-1252; , ; or tab).

    Headers may be English or French (email/courriel, first_name/prénom, last_name/nom,
    consent_date, consent_source). Rejected rows are listed with their line. Unsubscribed,
    bounced and complained addresses are never reactivated. A file from `subscribers export`
    is restored as it was: statuses, consent, dates, frequency and pause; a row whose status is
    unsubscribed, bounced or complained is a suppression. Readers who erased their data are kept
    out. The import lands whole or not at all. --welcome greets each address it adds, once.

    Example:

        newsletter subscribers import export-crm.csv --source salon-2026
    """
    summary = nl.subscribers.import_csv(file, source=source, dry_run=dry_run, check_dns=check_dns,
                                        welcome=welcome)
    for rejected in summary.rejections:
        where = f"{file}:{rejected.line}"
        click.secho(_("%(where)s: %(what)s", where=where, what=said(rejected)), fg="yellow")
    if summary.rejected > len(summary.rejections):
        click.echo(ngettext("… and %(num)d more rejected row", "… and %(num)d more rejected rows",
                            summary.rejected - len(summary.rejections)))
    counts = [ngettext("%(num)d added", "%(num)d added", summary.added),
              ngettext("%(num)d updated", "%(num)d updated", summary.updated),
              ngettext("%(num)d unchanged", "%(num)d unchanged", summary.unchanged),
              ngettext("%(num)d duplicate merged", "%(num)d duplicates merged", summary.duplicates),
              ngettext("%(num)d unsubscribed/bounced/erased kept out", "%(num)d unsubscribed/bounced/erased kept out",
                       summary.kept_out),
              ngettext("%(num)d rejected", "%(num)d rejected", summary.rejected)]
    if summary.suppressed:
        counts.append(ngettext("%(num)d recorded as unsubscribed/bounced/complained (suppression)",
                               "%(num)d recorded as unsubscribed/bounced/complained (suppressions)",
                               summary.suppressed))
    shown = ", ".join(counts)
    click.echo(_("Would import %(file)s: %(counts)s.", file=file, counts=shown) if dry_run else
               _("Imported %(file)s: %(counts)s.", file=file, counts=shown))
    if dry_run:
        click.echo(_("Nothing was written (--dry-run). Run it again without --dry-run to import."))


@subscribers.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--excel-fr", is_flag=True,
              help="For French Excel: ; separator and dates in the newsletter's time zone (DD/MM/YYYY HH:MM:SS).")
@pass_newsletter
def subscribers_export(nl: Newsletter, file: Path, status: str | None, excel_fr: bool) -> None:
    """Export subscribers to a CSV file (UTF-8 with BOM, safe to open in a spreadsheet).

    Every status and the consent data are kept: importing the file into another store restores
    the list, and people who left stay out.

    Example:

        newsletter subscribers export abonnes.csv --excel-fr
    """
    count = nl.subscribers.export(file, status=status, excel_fr=excel_fr).count
    click.echo(ngettext("Exported %(num)d subscriber to %(file)s (French Excel: ; and local dates).",
                        "Exported %(num)d subscribers to %(file)s (French Excel: ; and local dates).", count, file=file)
               if excel_fr else ngettext("Exported %(num)d subscriber to %(file)s.",
                                         "Exported %(num)d subscribers to %(file)s.", count, file=file))


@subscribers.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--search", metavar="TEXT", help="Only addresses containing TEXT (any case; xn-- domains match too).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Show at most N rows.")
@click.option("--all", "show_all", is_flag=True, help="Show every row (no limit).")
@pass_newsletter
def subscribers_list(nl: Newsletter, status: str | None, search: str | None, limit: int, show_all: bool) -> None:
    """List subscribers (address, status, name), how many are shown, and the count per status.

    Example:

        newsletter subscribers list --search martin --status unsubscribed
    """
    shown = 0
    for s in nl.subscribers.stream(status=status, search=search, limit=None if show_all else limit):
        name = " ".join(p for p in (s.first_name, s.last_name) if p)
        click.echo(f"{s.email:<40} {_status_word(s.status):<13} {name}")
        shown += 1
    matching = nl.subscribers.count(status=status, search=search)
    if shown < matching:
        total = _decimal(matching, "#,##0")
        click.secho(ngettext("%(num)d of %(matching)s shown; --limit N or --all for more.",
                             "%(num)d of %(matching)s shown; --limit N or --all for more.", shown,
                             matching=total), fg="yellow")
    elif (status or search) and not shown:
        click.echo(_("No subscriber matches."))
    counts = nl.subscribers.count_by_status()
    if status or search:  # the totals of what was asked for, then the whole list's size
        found = {k: n for k, n in nl.subscribers.count_by_status(search=search).items() if not status or k == status}
        click.echo(_("Matching: %(counts)s (of %(total)s subscribers).",
                     counts=", ".join(_status_count(k, n) for k, n in sorted(found.items())) or _("none"),
                     total=f"{sum(counts.values()):,}"))
        return
    click.echo(", ".join(_status_count(k, n) for k, n in sorted(counts.items())) or _("No subscribers yet."))


def _status_word(status: str) -> str:
    """A subscriber's status in the terminal's language ("actif"), as the desk names it."""
    said_as: dict[str, Callable[[], str]] = {
        "pending": lambda: _("pending"), "active": lambda: _("active"), "unsubscribed": lambda: _("unsubscribed"),
        "bounced": lambda: _("bounced"), "complained": lambda: _("complained"),
    }
    return said_as[status]() if status in said_as else status


def _status_count(status: str, n: int) -> str:
    """"3 active": a count of subscribers in one status, in the terminal's language and number."""
    said_as: dict[str, Callable[[], str]] = {
        "pending": lambda: ngettext("%(num)d pending", "%(num)d pending", n),
        "active": lambda: ngettext("%(num)d active", "%(num)d active", n),
        "unsubscribed": lambda: ngettext("%(num)d unsubscribed", "%(num)d unsubscribed", n),
        "bounced": lambda: ngettext("%(num)d bounced", "%(num)d bounced", n),
        "complained": lambda: ngettext("%(num)d complained", "%(num)d complained", n),
    }
    return said_as[status]() if status in said_as else f"{n} {status}"


@subscribers.command("add")
@click.argument("email")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@pass_newsletter
def subscribers_add(nl: Newsletter, email: str, first_name: str, last_name: str) -> None:
    """Add one active subscriber (never one who unsubscribed).

    Example:

        newsletter subscribers add helene.martin@example.org --first-name Hélène
    """
    address = checked_address(email, "EMAIL")
    change = nl.subscribers.add(address, first_name=checked_name(first_name, "--first-name"),
                                last_name=checked_name(last_name, "--last-name"))
    address = change.record.email
    click.echo(_("Added %(address)s.", address=address) if change.created else
               _("Updated %(address)s.", address=address))


@subscribers.command("remove")
@click.argument("email")
@pass_newsletter
def subscribers_remove(nl: Newsletter, email: str) -> None:
    """Unsubscribe an address; the record stays as proof and as a suppression.

    Example:

        newsletter subscribers remove helene.martin@example.org
    """
    change = nl.subscribers.remove(checked_address(email, "EMAIL"))
    click.echo(_("Unsubscribed %(address)s; they will not be mailed again.", address=change.record.email))


@subscribers.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_newsletter
def subscribers_erase(nl: Newsletter, email: str, yes: bool) -> None:
    """Erase a reader's data (RGPD art. 17): the subscriber and every row naming them.

    The send ledger keeps its counts without the person; the address survives only as a keyed
    hash that keeps it out of every import, `add` and API call, until the reader subscribes
    again through the form. Asks for confirmation unless --yes.

    Example:

        newsletter subscribers erase helene.martin@example.org --yes
    """
    address = checked_address(email, "EMAIL")
    if not yes:
        click.confirm(_("Erase %(address)s and everything stored about them? This cannot be undone", address=address),
                      abort=True)
    nl.readers.erase(address)
    click.echo(_("Erased %(address)s: nothing about them is left but a keyed hash that keeps the address out of "
                 "imports until they subscribe again through the form.", address=address))


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
@click.option("--by", "by", metavar="NAME",
              help="Who sends --without-approval or --resend-uncertain, as recorded (default: the login name).")
@click.option("--workers", "workers", type=click.IntRange(min=1, max=64), default=1, show_default=True,
              help="Run N local worker processes on the send (PostgreSQL store only).")
@click.option("--resend-uncertain", "resend", is_flag=True,
              help="Send again only the recipients left uncertain (some may get a second copy); asks first.")
@click.option("--yes", "-y", "yes", is_flag=True, help="With --resend-uncertain: do not ask (for scripts).")
@pass_newsletter
def send(nl: Newsletter, day: date | None, test_addresses: tuple[str, ...], dry_run: bool,
         limit: int | None, at: str | None, override: str | None, by: str | None, workers: int,
         resend: bool, yes: bool) -> None:
    """Send an issue to every active subscriber who has not received it yet.

    Resumable and idempotent: run it again after a crash or an interruption and only the
    remaining subscribers are served; nobody gets the issue twice. Exit 1 if some messages
    failed or remain pending (see `newsletter status`). When [schedule] require_approval is
    set, an issue that is not approved as it is now is refused, unless --without-approval
    says why.

    With --workers N (PostgreSQL), N local processes share the send; `newsletter worker` on
    other hosts may help it too.

    With --resend-uncertain, send again only the recipients whose message was in flight when a
    run stopped and whose fate nobody knows (`status` lists them): each gets the issue with the
    same Message-ID, so some may see it twice. It asks first (--yes does not), is recorded with
    --by (default: the login name), and is refused (exit 1) while another run holds the send.

    Example:

        newsletter send 2026-11-24 --dry-run && newsletter send 2026-11-24
    """
    settings = nl.settings
    day = day or nl.today()
    if resend:
        used = [name for name, given in (("--test", test_addresses), ("--dry-run", dry_run), ("--limit", limit),
                                         ("--at", at), ("--without-approval", override), ("--workers", workers > 1))
                if given]
        if used:
            raise click.UsageError(_("--resend-uncertain goes alone (with --yes and --by), not with %(option)s",
                                     option=used[0]))
        _resend_uncertain(nl, day, by, yes)
        return
    if yes:
        raise click.UsageError(_("--yes goes with --resend-uncertain (a send asks nothing)"))
    if override is not None:
        try:
            override = checked_reason(override)
        except UsageError as err:
            raise click.BadParameter(str(err), param_hint="--without-approval") from None
    if at is not None:
        when = _parse_time(at, nl)
        nl.schedule_once(when, day)
        click.echo(_("Issue %(date)s will be sent at %(when)s by `newsletter schedule run` (the readiness gate "
                     "applies).", date=day.isoformat(), when=_moment(when)))
        return
    if test_addresses:
        addresses = [checked_address(a, "--test") for a in test_addresses]
        _secret_key(nl)
        copies = nl.send_test(addresses, day)
        for copy in copies:
            click.echo(_("[TEST] %(address)s: sent", address=copy.email) if copy.ok else
                       _("[TEST] %(address)s: failed: %(reason)s", address=copy.email, reason=copy.error))
        if not all(c.ok for c in copies):
            raise DeliveryError(_("some test messages were not sent"))
        return
    _secret_key(nl)  # a configuration error (exit 2) comes before the approval's refusal
    if workers > 1 and (dry_run or limit is not None):
        raise click.UsageError(_("--workers goes with a real send, without --dry-run or --limit"))
    if workers > 1:
        nl.require_workers()
    if dry_run:
        from newsletter.library import Quoted

        preview = nl.dry_run(day, limit=limit)
        click.echo(_("Dry run for %(date)s through the %(adapter)s adapter: %(would)s, %(served)s.",
                     date=day.isoformat(), adapter=Quoted(preview.adapter),
                     would=ngettext("%(num)d would receive it now", "%(num)d would receive it now",
                                    preview.recipients),
                     served=ngettext("%(num)d already served", "%(num)d already served", preview.already_served)))
        if preview.recipients == 0:
            click.secho(_("0 recipients: nobody would receive it now (no active subscriber left to serve; see "
                          "`newsletter subscribers list`)."), fg="yellow")
        gate = _(" — `newsletter send` will refuse it until it is approved (or --without-approval REASON)") \
            if preview.refused_until_approved else ""
        click.secho(_("Approval: %(approval)s", approval=said(preview.approval)) + gate,
                    fg="yellow" if gate else None)
        _show_sample(preview.sample, preview.sample_to)
        _dated_ahead(nl, day)
        click.echo(_("--- Nothing was sent. Send for real with: newsletter send %(date)s", date=day.isoformat()))
        return
    clearance = nl.authorize_send(day, without_approval=override, by=by, workers=workers)
    if clearance.override_by:
        click.secho(_("Sending without approval (%(approval)s), recorded as sent by %(name)s.",
                      approval=said(clearance.approval), name=clearance.override_by), fg="yellow")
    elif clearance.override_needless:
        click.echo(_("The approval is in order (or not required); --without-approval changes nothing."))
    _dated_ahead(nl, day)
    report = _send_with_progress(nl, day, clearance, limit, workers)
    _show_report(nl, report)
    if report.resumed is not None:
        click.echo(_("Resumed the send paused at %(when)s.", when=_moment(report.resumed.paused_at, settings.tz)))
    if report.paused:
        click.secho(ngettext("Paused: %(reason)s. The %(num)d recipient left waits; clean the list, then resume "
                             "with `newsletter send %(date)s`.",
                             "Paused: %(reason)s. The %(num)d recipients left wait; clean the list, then resume "
                             "with `newsletter send %(date)s`.", report.pending, reason=_recorded(report.paused),
                             date=day.isoformat()), fg="red")
    if report.failed_now or not report.complete:
        raise _unfinished(report, _("see `newsletter status %(date)s`; run `newsletter send %(date)s` again to "
                                    "resume", date=day.isoformat()))


def _dated_ahead(nl: Newsletter, day: date) -> None:
    """Say that an issue dated after today, sent now, reaches its readers now but waits for its date in the
    public archive and the feed (:meth:`newsletter.library.archive.Archive.published`)."""
    ahead = (day - nl.today()).days
    if ahead > 0:
        click.secho(ngettext("Issue %(date)s is dated tomorrow: sent now, it reaches its readers now, and the public "
                             "archive and the feed list it from its date on. To send it on its date, use "
                             "`newsletter send %(date)s --at HH:MM` (or let `newsletter schedule run` send it).",
                             "Issue %(date)s is dated in %(num)d days: sent now, it reaches its readers now, and the "
                             "public archive and the feed list it from its date on. To send it on its date, use "
                             "`newsletter send %(date)s --at HH:MM` (or let `newsletter schedule run` send it).",
                             ahead, date=day.isoformat()),
                    fg="yellow", err=True)


def _show_report(nl: Newsletter, report: "SendReport") -> None:
    """A run's summary: the totals, the reasons of what is not delivered, where the outbox put the messages,
    and what to do about uncertain recipients."""
    click.echo(_status_line(report))
    for status, reason, count in report.failures:
        click.secho(f"  {count:>6} " + _("%(where)s: %(what)s", where=_state(status), what=_reason(status, reason)),
                    fg="yellow" if status == "pending" else "red")
    folder = nl.outbox_folder()
    if folder is not None:
        click.echo(_("Messages are in %(folder)s (one .eml file each).", folder=folder))
    if report.counts.get("uncertain"):
        click.echo(_("`newsletter status %(date)s` lists the uncertain recipients; `newsletter send %(date)s "
                     "--resend-uncertain` sends them the issue again.", date=report.day.isoformat()))


def _unfinished(report: "SendReport", hint: str) -> DeliveryError:
    """The error a send ends on when some of its messages failed or are left (said already, with its hint)."""
    counts = [ngettext("%(num)d failed", "%(num)d failed", report.failed_now),
              ngettext("%(num)d pending", "%(num)d pending", report.pending)]
    if report.in_flight:
        counts.append(ngettext("%(num)d in flight", "%(num)d in flight", report.in_flight))
    return DeliveryError(", ".join(counts), hint=hint)


#: What an operator accepts by resending uncertain rows (said before asking, and by ``status``).
RESEND_CAVEAT = N_("some of them may have it already: the same Message-ID is sent again, so mail services that "
                   "drop duplicates drop the copy, and the others show it twice")


def _resend_uncertain(nl: Newsletter, day: date, by: str | None, yes: bool) -> None:
    """``send DATE --resend-uncertain``: say how many and what it risks, ask (unless --yes), resend, report."""
    _secret_key(nl)
    plan = nl.resend_plan(day)
    if plan.uncertain == 0:
        click.echo(_("Issue %(date)s: no recipient is uncertain; nothing to resend.", date=day.isoformat()))
        return
    click.secho(ngettext("%(num)d recipient of %(date)s is uncertain: their message was marked sending and no reply "
                         "was recorded, so nobody knows whether it arrived. Resending sends them the issue again; "
                         "%(caveat)s.",
                         "%(num)d recipients of %(date)s are uncertain: their message was marked sending and no reply "
                         "was recorded, so nobody knows whether it arrived. Resending sends each of them the issue "
                         "again; %(caveat)s.", plan.uncertain, date=day.isoformat(), caveat=_(RESEND_CAVEAT)),
                fg="yellow")
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(_("--resend-uncertain asks for confirmation and there is no terminal to ask on; "
                                     "add --yes to resend anyway"))
        click.confirm(ngettext("Resend the issue to this %(num)d recipient?", "Resend the issue to these %(num)d "
                               "recipients?", plan.uncertain), abort=True)
    resent = _with_progress(day, plan.uncertain, lambda progress, stop: nl.resend_uncertain(
        day, by=by, progress=progress, stop=stop))
    report = resent.report
    click.echo(ngettext("Resent %(num)d uncertain recipient of %(date)s; recorded on the send (`newsletter status` "
                        "and `history` show it).",
                        "Resent %(num)d uncertain recipients of %(date)s; recorded on the send (`newsletter status` "
                        "and `history` show it).", resent.rows, date=day.isoformat()))
    _show_report(nl, report)
    if report.failed_now or not report.complete:
        raise _unfinished(report, _("see `newsletter status %(date)s`; run `newsletter send %(date)s` to finish the "
                                    "recipients left pending", date=day.isoformat()))


def _reason(status: str, reason: str) -> str:
    """A ledger reason as the operator reads it: a pending row without one was simply not reached."""
    if reason:
        return _recorded(reason)
    return _("not sent yet (the run stopped before them)") if status == "pending" else _("(no reason recorded)")


def _recorded(reason: str) -> str:
    """A reason the send recorded in English (a stop, a pause, a ledger row) in the terminal's language, what the
    server or the provider answered quoted as it was written."""
    from newsletter.library import said_reason

    return said(said_reason(reason))


def _gate_state(state: str) -> str:
    """The readiness gate's verdict on an issue in the terminal's language (a word or two, for a column)."""
    spoken = _spoken()
    names = {"ready": spoken.pgettext("gate verdict", "ready"), "sent": spoken.pgettext("gate verdict", "sent"),
             "paused": spoken.pgettext("gate verdict", "paused"), "missing": spoken.pgettext("gate verdict", "missing"),
             "failing": spoken.pgettext("gate verdict", "failing"),
             "waiting approval": spoken.pgettext("gate verdict", "waiting approval")}
    return names.get(state, state)


def _state(status: str) -> str:
    """A ledger state's name in the terminal's language."""
    names = {"sent": _("sent"), "failed": _("failed"), "pending": _("pending"), "uncertain": _("uncertain"),
             "skipped": _("skipped"), "sending": _("sending")}
    return names.get(status, status)


def _show_sample(data: bytes, to: str) -> None:
    """The sample's headers (decoded) and its text part as a reader sees it, not the MIME source."""
    import email
    import email.policy
    from email.message import EmailMessage

    message = email.message_from_bytes(data, policy=email.policy.default)
    click.echo(_("--- sample message for %(address)s: headers ---", address=to))
    for name, value in message.items():
        click.echo(f"{name}: {value}")
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if isinstance(part, EmailMessage) else ""
    lines = text.splitlines()
    click.echo(ngettext("--- text part (%(num)d line; the HTML part is in `newsletter build`'s email.html) ---",
                        "--- text part (%(num)d lines; the HTML part is in `newsletter build`'s email.html) ---",
                        len(lines)))
    click.echo("\n".join(lines[:60]) + ("\n…" if len(lines) > 60 else ""))


def _parse_time(text: str, nl: Newsletter) -> datetime:
    """``YYYY-MM-DD HH:MM[:SS]`` in the schedule's time zone (or with an explicit offset)."""
    from newsletter.library import Quoted

    try:
        when = datetime.fromisoformat(text.strip().replace("T", " "))
    except ValueError:
        raise click.BadParameter(_("%(value)s is not a time; write it as \"YYYY-MM-DD HH:MM\", e.g. "
                                   "\"2026-11-24 07:00\"", value=Quoted(text)), param_hint="--at") from None
    when = when if when.tzinfo else when.replace(tzinfo=nl.settings.schedule_tz)
    name = nl.holiday(when.astimezone(nl.settings.schedule_tz).date())
    if name:
        click.secho(_("Warning: %(date)s is a public holiday (jour férié: %(name)s); the send is scheduled anyway, "
                      "as asked.", date=when.date().isoformat(), name=name), fg="yellow", err=True)
    return when


def _send_with_progress(nl: Newsletter, day: date, clearance: "SendClearance",
                        limit: int | None, workers: int = 1) -> "SendReport":
    """Run the send with a progress display; SIGTERM ends it cleanly after the messages in hand."""
    return _with_progress(day, nl.waiting(day), lambda progress, stop: nl.send(
        day, clearance=clearance, limit=limit, progress=progress, stop=stop, workers=workers))


def _with_progress(day: date, total: int, run: "Callable[[Callable[[int], None], threading.Event], R]") -> "R":
    """Run a send (``run(progress, stop)``) with a progress display of ``total`` recipients; SIGTERM ends it
    cleanly after the messages in hand."""
    import signal
    import threading

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        return _with_display(day, total, run, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _with_display(day: date, total: int, run: "Callable[[Callable[[int], None], threading.Event], R]",
                  stop: "threading.Event") -> "R":
    if not sys.stdout.isatty():
        started = last = time.monotonic()
        done = 0

        def log_line(n: int) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last >= 5:
                last = now
                click.echo(ngettext("%(date)s: %(num)d recipient settled (%(rate).0f/s)",
                                    "%(date)s: %(num)d recipients settled (%(rate).0f/s)", done,
                                    date=day.isoformat(), rate=done / (now - started)))

        return run(log_line, stop)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]:>7.0f}/s"), TimeRemainingColumn()) as bar:
        task = bar.add_task(_("Sending %(date)s", date=day.isoformat()), total=total or None, rate=0.0)
        started = time.monotonic()
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            bar.update(task, advance=n, rate=done / max(1e-6, time.monotonic() - started))

        return run(progress, stop)


def _feedback_line(figures: "HistoryRow") -> str:
    """What came back about an issue, and its complaint rate against Gmail's 0.3 % line."""
    line = _("Feedback: %(bounced)s, %(complained)s (%(rate)s of those sent), %(unsubscribed)s",
             bounced=ngettext("%(num)d bounced", "%(num)d bounced", figures.bounced),
             complained=ngettext("%(num)d complained", "%(num)d complained", figures.complained),
             rate=_percent(figures.complaint_rate),
             unsubscribed=ngettext("%(num)d unsubscribed", "%(num)d unsubscribed", figures.unsubscribed))
    if figures.complaints_too_high:
        return line + _(" — complaint rate above Gmail's 0.3 % line: Gmail and Yahoo throttle or block above it.")
    return line + "."


def _day_time(value: datetime) -> str:
    """A due time with its weekday in the terminal's language: "Tue 2026-11-24 07:00 CET", "mar. 2026-11-24 …"."""
    from babel.dates import format_date

    return f"{format_date(value.date(), 'EEE', locale=_spoken().locale)} {_moment(value)}"


def _moment(value: datetime, tz: Any = None, *, seconds: bool = False) -> str:
    """A date and time as the command line writes it, in ``tz`` when given: "2026-11-24 07:00 CET"."""
    return (value.astimezone(tz) if tz is not None else value).strftime(
        "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def _counts(counts: "dict[str, int]") -> str:
    """Ledger rows by state, "3 sent, 1 failed", with the plural forms of the terminal's language."""
    said = {"sent": lambda n: ngettext("%(num)d sent", "%(num)d sent", n),
            "failed": lambda n: ngettext("%(num)d failed", "%(num)d failed", n),
            "pending": lambda n: ngettext("%(num)d pending", "%(num)d pending", n),
            "queued": lambda n: ngettext("%(num)d queued", "%(num)d queued", n),
            "sending": lambda n: ngettext("%(num)d in flight", "%(num)d in flight", n),
            "uncertain": lambda n: ngettext("%(num)d uncertain", "%(num)d uncertain", n),
            "skipped": lambda n: ngettext("%(num)d skipped", "%(num)d skipped", n)}
    return ", ".join(said[k](n) if k in said else f"{n} {k}" for k, n in sorted(counts.items()))


def _decimal(value: float, pattern: str = "0.##") -> str:
    """A number as the terminal's language writes it: 2.5 in English, 2,5 in French."""
    from babel.numbers import format_decimal

    return format_decimal(value, pattern, locale=_spoken().locale)


def _percent(rate: float) -> str:
    """A rate as the terminal's language writes it: 0.25% in English, 0,25 % in French."""
    from babel.numbers import format_percent

    return format_percent(rate, "#,##0.00%", locale=_spoken().locale)


def _reasons_line(figures: "HistoryRow") -> str:
    """The bounces of an issue by reason, hard then soft: "2 user unknown, 1 host unknown; soft: 3 mailbox full"."""
    def listed(kind: str) -> str:
        return ", ".join(f"{b.rows:,} {b.reason or _('reason not given')}" for b in figures.bounce_reasons
                         if b.kind == kind)

    hard, soft = listed("hard"), listed("soft")
    return _("; ").join(filter(None, (_("hard: %(reasons)s", reasons=hard) if hard else "",
                                      _("soft: %(reasons)s", reasons=soft) if soft else "")))


def _status_line(report: "SendReport") -> str:
    c = report.counts  # every state is named, so that the figures add up to the total
    counts = ", ".join((ngettext("%(num)d sent", "%(num)d sent", c.get("sent", 0)),
                        ngettext("%(num)d failed", "%(num)d failed", c.get("failed", 0)),
                        ngettext("%(num)d pending", "%(num)d pending", report.pending),
                        ngettext("%(num)d in flight", "%(num)d in flight", report.in_flight),
                        ngettext("%(num)d uncertain", "%(num)d uncertain", c.get("uncertain", 0)),
                        ngettext("%(num)d skipped", "%(num)d skipped", c.get("skipped", 0)),
                        ngettext("%(num)d in all", "%(num)d in all", report.total)))
    from babel.numbers import format_decimal

    run = ngettext("this run: %(num)d sent in %(seconds)s s", "this run: %(num)d sent in %(seconds)s s",
                   report.sent_now, seconds=format_decimal(round(report.elapsed, 1), "0.0", locale=_spoken().locale))
    if report.stopped:
        run += _("; stopped: %(reason)s", reason=_recorded(report.stopped))
    return _("Issue %(date)s: %(counts)s (%(run)s).", date=report.day.isoformat(), counts=counts, run=run)


@cli.command()
@click.option("--once", is_flag=True, help="Help the open sends once, then exit (what `send --workers` runs).")
@click.option("--day", "day", type=DATE, metavar="ISSUE",
              help="Help only this issue's send.")
@click.option("--poll", type=click.FloatRange(min=0.5, max=3600), default=5.0, show_default=True,
              help="Seconds between two looks for open sends when there is nothing to do.")
@pass_newsletter
def worker(nl: Newsletter, once: bool, day: date | None, poll: float) -> None:
    """Help the sends that `newsletter send` or the scheduler started, on this host (PostgreSQL store).

    Runs until SIGTERM or Ctrl+C (the messages in hand are finished), looking for open sends
    (started, not finished, not paused) every --poll seconds. A worker never starts a send; it
    builds the messages from the render stored when the send started. Run any number, on any
    host that reaches the store. With --once, exit 1 when a send it helped has failures or rows left.

    Example:

        newsletter worker
    """
    import os
    import signal
    import threading

    nl.require_workers()
    _secret_key(nl)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    if not once:
        click.echo(_("Worker %(pid)d: helping each send that starts (looking every %(poll)s s); SIGTERM or Ctrl+C "
                     "stops it.", pid=os.getpid(), poll=_decimal(poll)))

    def said(report: "SendReport") -> None:
        click.echo(_status_line(report))

    try:
        reports = nl.work(stop=stop, once=once, day=day, poll=poll, on_report=said)
    except KeyboardInterrupt:
        reports = []
    finally:
        signal.signal(signal.SIGTERM, previous)
    from newsletter.library import left_undone

    if once and left_undone(reports, stopped=stop.is_set()):
        raise DeliveryError(N_("a send this worker helped has failures or recipients left"),
                            hint=N_("see `newsletter status DATE`"))


@cli.command()
@date_argument
@click.option("--note", "note", metavar="TEXT", required=True,
              help="What was corrected, in a sentence (plain text, shown on the archive page, in the feed and the mail).")
@click.option("--mail", is_flag=True, help="Also tell each reader who received the issue, once (resumable).")
@click.option("--by", "by", metavar="NAME", help="Who corrects (default: $NEWSLETTER_EDITOR, else the login name).")
@pass_newsletter
def correct(nl: Newsletter, day: date | None, note: str, mail: bool, by: str | None) -> None:
    """Publish the issue's current files as the corrected version of a sent issue.

    The archive page shows the note, the date and what changed (items, in words) above the
    corrected issue, the version sent stays at /archive/DATE/envoi/, and the feed entry is
    updated. The files must pass `check`. With --mail, a short "Correction : …" message with
    the note and a link goes once to each reader the issue reached who is still subscribed;
    running the same command again finishes a mail cut short, and sends nobody twice.

    Example:

        newsletter correct 2026-11-24 --note "Le chiffre de l'info 3 était faux." --mail
    """
    day = day or nl.today()
    if mail:
        _secret_key(nl)
    try:
        outcome = nl.corrections.publish(day, note, mail=mail, by=by or "")
    except ContentError as err:
        _print_problems(err.problems, nl.settings.root)
        raise
    done = outcome.correction
    if outcome.resumed:
        click.echo(_("Correction %(number)d of issue %(date)s was published already; its mail goes on.",
                     number=done.number, date=day.isoformat()))
    else:
        click.secho(_("Correction %(number)d of issue %(date)s published: %(url)s", number=done.number,
                      date=day.isoformat(), url=outcome.url), fg="green")
        for change in nl.corrections.of(day, _spoken())[-1].changes:
            click.echo(f"  {change}")
    if outcome.mail is not None:
        counts = ", ".join(f"{n} {_state(k)}" for k, n in sorted(outcome.mail.counts.items())) or _("no recipient")
        click.echo(_("Correction mail: %(counts)s.", counts=counts))
        if not outcome.mail.complete:
            click.secho(_("The mail is not finished; run the same command again to go on (nobody gets it twice)."),
                        fg="yellow")
            raise click.exceptions.Exit(1)


@cli.command()
@date_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_newsletter
def status(nl: Newsletter, day: date | None, as_json: bool) -> None:
    """Show what was sent and when, what failed (grouped by reason), what is pending, what came back
    (bounces by reason: user unknown, mailbox full…), and the schedule.

    The uncertain recipients are listed by address (the first 20; --json lists them all), with
    the resends an operator asked for (`send DATE --resend-uncertain`).

    Exit 1 when the day needs the operator: the scheduler is waiting or skipped it, or it is
    due (or past due) and not ready or not sent.

    Example:

        newsletter status 2026-11-24 --json
    """
    issue = nl.status(day, uncertain=None if as_json else UNCERTAIN_SHOWN)
    day, state, tz = issue.day, issue.schedule, nl.settings.tz
    corrections = nl.corrections.of(day, _spoken())
    if as_json:
        skipped = nl.readers.skipped()
        click.echo(json.dumps({**issue.to_dict(), "skipped_readers": {"weekly": skipped.weekly,
                                                                      "paused": skipped.paused},
                               "corrections": [{"number": c.number, "at": c.at.astimezone(tz).isoformat(
                                   timespec="seconds"), "note": c.note, "by": c.author, "changes": c.changes,
                                   "mail": c.mail_counts if c.mail else None} for c in corrections]},
                              ensure_ascii=False, indent=2))
    else:
        if issue.started_at is None:
            click.echo(_("Issue %(date)s has not been sent.", date=day.isoformat()))
        else:
            ended = (_(", finished %(when)s", when=_moment(issue.finished_at, tz, seconds=True))
                     if issue.finished_at else _(", not finished"))
            started = _moment(issue.started_at, tz, seconds=True)
            click.echo(_("Issue %(date)s: %(counts)s (started %(when)s%(ended)s).", date=day.isoformat(),
                         counts=_counts(issue.counts) or _("no recipient"), when=started, ended=ended))
        for status_name, reason, count in issue.problems:
            click.echo(f"  {count:>6} " + _("%(where)s: %(what)s", where=_state(status_name),
                                            what=_reason(status_name, reason)))
            if status_name == "uncertain":
                for row in issue.uncertain:
                    if row.reason == reason:
                        click.echo(f"           {row.email}")
        _show_uncertain(issue)
        for resend in issue.resends:
            resent_at = _moment(resend.at, tz)
            click.echo(ngettext("Resent %(num)d uncertain recipient on %(when)s, asked by %(name)s.",
                                "Resent %(num)d uncertain recipients on %(when)s, asked by %(name)s.", resend.rows,
                                when=resent_at, name=resend.by))
        for c in corrections:
            told = (_("Correction mail: %(counts)s.", counts=_counts(c.mail_counts) or _("no recipient"))
                    if c.mail else "")
            click.echo(_("Correction %(number)d on %(when)s by %(name)s: %(note)s", number=c.number,
                         when=_moment(c.at, tz), name=c.author or "?", note=c.note) + (" — " + told if told else ""))
        click.echo(_("Approval: %(approval)s", approval=said(issue.approval)))
        if issue.override is not None:
            when = _(" on %(when)s", when=_moment(issue.override.at, tz)) if issue.override.at else ""
            click.secho(_("Sent without approval by %(name)s%(when)s: %(reason)s", name=issue.override.by,
                          when=when, reason=issue.override.reason), fg="yellow")
        if issue.figures is not None:
            click.echo(_feedback_line(issue.figures))
            if issue.figures.bounce_reasons:
                click.echo(_("Bounces by reason: %(reasons)s.", reasons=_reasons_line(issue.figures)))
        for pause in issue.pauses:
            resumed = _(", resumed %(when)s", when=_moment(pause.resumed_at, tz)) if pause.resumed_at else ""
            click.secho(_("Paused %(when)s%(resumed)s: %(reason)s", when=_moment(pause.paused_at, tz),
                          resumed=resumed, reason=_recorded(pause.reason)), fg=None if pause.resumed_at else "red")
        for w in issue.workers:
            host = w.host if w.pid is None else _("%(host)s pid %(pid)d", host=w.host, pid=w.pid)
            until = w.expires_at.astimezone(tz).strftime("%H:%M:%S %Z")
            click.echo(ngettext("Worker %(host)s: %(num)d sent, %(rate)s/s, lease until %(until)s",
                                "Worker %(host)s: %(num)d sent, %(rate)s/s, lease until %(until)s", w.messages,
                                host=host, rate=_decimal(w.rate, "0.0"), until=until))
        if issue.pause is not None:
            click.secho(_("Attention: the send paused itself; clean the list, then resume with "
                          "`newsletter send %(date)s`.", date=day.isoformat()), fg="red")
        if state.dispatch is not None:
            click.secho(_("Schedule: %(state)s", state=state.dispatch)
                        + (f" — {state.dispatch_reason}" if state.dispatch_reason else ""),
                        fg="red" if state.alarm else None)
        due = (_("due %(when)s", when=_day_time(state.due)) if state.due else
               _("no due time that day: jour férié, %(name)s", name=state.holiday) if state.holiday else
               _("no due time that day"))
        reason = said(state.said) if state.said is not None else state.reason
        click.secho(_("Gate: %(state)s", state=_gate_state(state.gate)) + (f" — {reason}" if reason else "")
                    + f" ({due})", fg="red" if state.alarm else None)
        if state.alarm:
            click.secho(_("Attention: %(alarm)s.", alarm=said(state.alarm_said) if state.alarm_said else state.alarm),
                        fg="red")
        skipped = nl.readers.skipped()
        if skipped.weekly or skipped.paused:
            click.echo(_("Readers left out of daily issues now: %(weekly)s weekly, %(paused)s paused.",
                         weekly=skipped.weekly, paused=skipped.paused))
    if issue.attention:
        raise click.exceptions.Exit(1)


def _show_uncertain(issue: "IssueStatus") -> None:
    """After the uncertain addresses (listed under their reason): how many were left out, and the operator's lever."""
    total = issue.counts.get("uncertain", 0)
    if not total:
        return
    key = issue.day.isoformat()
    if len(issue.uncertain) < total:
        click.echo(_("  (%(shown)d of the %(total)d uncertain addresses shown; `newsletter status %(date)s --json` "
                     "lists them all)", shown=len(issue.uncertain), total=total, date=key))
    click.secho(ngettext("Uncertain: nobody knows whether this %(num)d message arrived; `newsletter send %(date)s "
                         "--resend-uncertain` sends it again (%(caveat)s).",
                         "Uncertain: nobody knows whether these %(num)d messages arrived; `newsletter send %(date)s "
                         "--resend-uncertain` sends them again (%(caveat)s).", total, date=key,
                         caveat=_(RESEND_CAVEAT)), fg="yellow")


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True, help="How many issues.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_newsletter
def history(nl: Newsletter, limit: int, as_json: bool) -> None:
    """List the issues sent, newest first: date, subject, recipients, sent, failed, bounced,
    complained (with the complaint rate; "!" above Gmail's 0.3 % line), unsubscribed since;
    marked when recipients are uncertain, when some were resent (--resend-uncertain) and when it
    was corrected after the send (`correct`); under an issue with bounces, their reasons (hard, then soft: user unknown, mailbox full, expired…).

    Example:

        newsletter history --limit 10
    """
    tz = nl.settings.tz
    rows = nl.history(limit=limit)
    clickers = nl.clicks.unique_clickers(r.day for r in rows)
    corrected = nl.corrections.counted([r.day for r in rows])
    if as_json:
        click.echo(json.dumps([{
            "date": r.day.isoformat()[:10], "issue": r.day.isoformat(), "subject": r.subject, "recipients": r.recipients, "sent": r.sent,
            "failed": r.failed, "bounced": r.bounced, "unsubscribed_since": r.unsubscribed,
            "complained": r.complained, "complaint_rate": round(r.complaint_rate, 6),
            "complaint_rate_above_gmail_line": r.complaints_too_high, "paused": r.paused,
            "started_at": r.started_at.astimezone(tz).isoformat(timespec="seconds"),
            "finished_at": r.finished_at.astimezone(tz).isoformat(timespec="seconds") if r.finished_at else None,
            "without_approval_by": r.override_by or None, "uncertain": r.uncertain, "resent": r.resent,
            "bounce_reasons": [{"kind": b.kind, "reason": b.reason, "rows": b.rows} for b in r.bounce_reasons],
            "unique_clickers": clickers.get(r.day), "corrections": corrected.get(r.day, 0),
        } for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(_("No issue has been sent yet."))
        return
    # Translators: the headings of `history`'s columns, each at most as wide as its column: 10, 10, 8, 7, 7, 7, 15, 9.
    headings = (_("date"), _("recipients"), _("sent"), _("failed"), _("bounced"), _("unsub."), _("complaints"),
                _("clickers"), _("subject"))
    click.echo("{:<10}  {:>10} {:>8} {:>7} {:>7} {:>7} {:>15} {:>9}  {}".format(*headings))
    for r in rows:
        mark = _(" (without approval)") if r.override_by else ""
        mark += _(" (paused)") if r.paused else "" if r.finished_at else _(" (not finished)")
        mark += ngettext(" (%(num)d uncertain)", " (%(num)d uncertain)", r.uncertain) if r.uncertain else ""
        mark += ngettext(" (%(num)d resent)", " (%(num)d resent)", r.resent) if r.resent else ""
        mark += _(" (corrected ×%(count)d)", count=corrected[r.day]) if r.day in corrected else ""
        complaints = f"{r.complained:,} {r.complaint_rate:.2%}{'!' if r.complaints_too_high else ' '}"
        click.echo(f"{r.day.isoformat():<10}  {r.recipients:>10,} {r.sent:>8,} {r.failed:>7,} {r.bounced:>7,} "
                   f"{r.unsubscribed:>7,} {complaints:>15} {_clickers(clickers.get(r.day)):>9}  {r.subject}{mark}")
        if r.bounce_reasons:
            click.echo(" " * 12 + _("bounces: %(reasons)s", reasons=_reasons_line(r)))


@cli.group()
def weekly() -> None:
    """The weekly roundup for the readers who chose one message a week: build.

    Example:

        newsletter weekly build 2026-W49
    """


@weekly.command("build")
@click.argument("week", metavar="[WEEK]", required=False)
@pass_newsletter
def weekly_build(nl: Newsletter, week: str | None) -> None:
    """Write issues/DATE-hebdo/ from the sent issues of WEEK (an ISO week, e.g. 2026-W49; default this week).

    DATE is the week's Sunday. Five items: the most clicked by readers when the week's issues have
    counted clicks, else those flagged `weekly: true`, else the first item of each day. Rewrite its
    intro, then check, approve and send it like any issue: it goes to the weekly readers only. An
    existing folder is never written over.

    Example:

        newsletter weekly build 2026-W49
    """
    built = nl.weekly_build(week)
    chosen = {"clicks": _("chosen by readers' clicks"), "flags": _("flagged `weekly: true`"),
              "first items": _("the first item of each day")}[built.by]
    click.echo(ngettext("Created %(folder)s from %(num)d sent issue (%(chosen)s):",
                        "Created %(folder)s from %(num)d sent issues (%(chosen)s):", len(built.days),
                        folder=built.folder, chosen=chosen))
    for pick in built.chosen:
        click.echo(f"  {pick.day.isoformat()} #{pick.item.number}: {pick.item.title}")
    click.echo(_("Rewrite its intro, then run `newsletter check %(issue)s`.", issue=built.issue))


@cli.group()
def schedule() -> None:
    """Send each day's issue at its hour (see [schedule] in newsletter.toml): run, show.

    Example:

        newsletter schedule show && newsletter schedule run
    """


@schedule.command("run")
@pass_newsletter
def schedule_run(nl: Newsletter) -> None:
    """Run the scheduler in the foreground (for systemd or a container) until SIGTERM or Ctrl+C.

    At each due time it checks the day's issue (folder, check, approval, not sent yet) and
    sends it, or alerts [schedule] alert_to and tries again until the grace period ends.
    One JSON log line per event on stderr.

    Example:

        NEWSLETTER_SECRET_KEY=… newsletter schedule run
    """
    import signal
    import threading

    from newsletter.frontends.scheduler import run_scheduler  # the command line launches the other front ends

    log_events_as_json(sys.stderr)
    _secret_key(nl)
    done = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    run_scheduler(nl, done)


@schedule.command("show")
@click.option("--count", type=click.IntRange(1, 60), default=5, show_default=True, help="How many due times.")
@pass_newsletter
def schedule_show(nl: Newsletter, count: int) -> None:
    """List the next due times (in the schedule's time zone) and the state of each issue.

    Example:

        newsletter schedule show --count 10
    """
    from newsletter.library import Quoted

    view = nl.schedule_view(count)
    tz = view.tz
    click.echo(_("Schedule %(cron)s in %(zone)s, approval %(approval)s, grace %(grace)d min:", cron=Quoted(view.cron),
                 zone=tz.key, approval=_("required") if view.require_approval else _("not required"),
                 grace=view.grace_minutes))
    for run in view.upcoming:
        gate = run.readiness
        if run.holiday:
            click.secho(_("  %(when)s  jour férié: %(name)s (not sent: [schedule] skip_holidays)",
                          when=_day_time(run.at), name=run.holiday), fg="cyan")
            continue
        color = {"ready": "green", "sent": "green", "missing": "red", "failing": "red"}.get(gate.state, "yellow")
        reason = said(gate.said) if gate.said is not None else gate.reason
        click.secho(f"  {_day_time(run.at)}  {_gate_state(gate.state):<16} {reason}", fg=color)
    for name, when in view.once:
        click.echo(_("  %(name)s: %(when)s", name=name, when=_day_time(when.astimezone(tz))) if when else
                   _("  %(name)s: paused", name=name))


def _clickers(count: int | None) -> str:
    return "-" if count is None else f"{count:,}"


@cli.command()
@click.argument("day", metavar="[ISSUE]", type=DATE, required=False)
@click.option("--days", type=click.IntRange(1, 3660), help="Trends of the last N days instead of one issue.")
@click.option("--readers", is_flag=True, help="Also the consenting readers who clicked ([analytics] per_subscriber).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_newsletter
def report(nl: Newsletter, day: date | None, days: int | None, readers: bool, as_json: bool) -> None:
    """What readers did with an issue: per item its clicks, unique clicks (messages from which a
    person clicked), the clicks judged automated (security scanners) and the click rate over the
    messages delivered; or, with --days, the rates by position and by tag over the last N days.

    Example:

    \b
        newsletter report 2026-11-24 --json
        newsletter report --days 30
    """
    if days is not None:
        if day is not None:
            raise click.UsageError(_("give an ISSUE or --days N, not both"))
        trends = nl.clicks.trends(days)
        if as_json:
            click.echo(json.dumps(trends.as_json(), ensure_ascii=False, indent=2))
            return
        click.echo(ngettext("Last %(days)d days: %(num)d issue with counted links",
                            "Last %(days)d days: %(num)d issues with counted links", len(trends.issues), days=days))
        # Translators: the headings of `report --days`'s columns, at most 10 (or 24), 6, 8 and 7 wide.
        columns = (_("items"), _("unique"), _("rate"))
        click.echo("{:<10} {:>6} {:>8} {:>7}".format(_("position"), *columns))
        for t in trends.positions:
            click.echo(f"{t.key:<10} {t.items:>6} {t.unique_clicks:>8,} {t.click_rate:>7.1%}")
        click.echo("{:<24} {:>6} {:>8} {:>7}".format(_("tag"), *columns))
        for t in trends.tags:
            click.echo(f"{t.key[:24]:<24} {t.items:>6} {t.unique_clicks:>8,} {t.click_rate:>7.1%}")
        return
    day = day or nl.today()
    figures = nl.clicks.report(day)
    people = nl.clicks.readers(day, secret_key=nl.secret_key().value) if readers else []
    if as_json:
        shown = figures.as_json()
        if readers:
            shown["readers"] = [{"email": email, "clicks": n} for email, n in people]
        click.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    click.echo(_("%(issue)s: %(delivered)s, %(clickers)s (estimated from the messages), %(automated)s; "
                 "%(unsubscribed)s, %(bounced)s, %(complained)s", issue=figures.issue,
                 delivered=ngettext("%(num)d delivered", "%(num)d delivered", figures.delivered),
                 clickers=ngettext("%(num)d unique clicker", "%(num)d unique clickers", figures.unique_clickers),
                 automated=ngettext("%(num)d request judged automated", "%(num)d requests judged automated",
                                    figures.automated),
                 unsubscribed=ngettext("%(num)d unsubscribed", "%(num)d unsubscribed", figures.unsubscribed),
                 bounced=ngettext("%(num)d bounced", "%(num)d bounced", figures.bounced),
                 complained=ngettext("%(num)d complained", "%(num)d complained", figures.complained)))
    # Translators: the headings of `report`'s columns, at most 7 wide (utile and non are the readers' buttons).
    click.echo("{:>2} {:>7} {:>7} {:>7} {:>7} {:>6} {:>5}  {}".format("#", _("clicks"), _("unique"), _("rate"),
                                                                        _("autom."), "utile", "non", _("title")))
    for item in figures.items:
        click.echo(f"{item.position:>2} {item.clicks:>7,} {item.unique_clicks:>7,} {item.click_rate:>7.1%} "
                   f"{item.automated:>7,} {item.useful:>6,} {item.not_for_me:>5,}  {item.title}"
                   f"{' [' + item.tag + ']' if item.tag else ''}")
    for email, n in people:
        click.echo(f"   {email}: " + ngettext("%(num)d click", "%(num)d clicks", n))


@cli.command()
@click.option("--host", help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [web] port, 8080).")
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True, help="Worker threads.")
@pass_newsletter
def serve(nl: Newsletter, host: str | None, port: int | None, threads: int) -> None:
    """Run the public web service: one-click unsubscribe, subscription with confirmation, archive.

    Meant to sit behind a reverse proxy that serves [newsletter] base_url over https.

    Example:

        NEWSLETTER_SECRET_KEY=… newsletter serve --port 8080
    """
    settings = nl.settings
    host = host or settings.web.host
    port = port or settings.web.port
    _secret_key(nl, listen=host)
    logging.getLogger("newsletter").setLevel(logging.INFO)
    from newsletter.frontends.web.server import web_server  # the command line launches the other front ends

    server = web_server(nl, host=host, port=port, threads=threads)
    listening = f"http://{host}:{port}"
    public = settings.newsletter.base_url.rstrip("/")
    url, published = listening + "/", public + "/"
    click.echo(_("Serving on %(url)s (Ctrl+C to stop)", url=url) if public == listening else
               _("Serving on %(url)s, published as %(base_url)s (Ctrl+C to stop)", url=url, base_url=published))
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops it as Ctrl+C does: the clicks waiting are written

    previous = signal.signal(signal.SIGTERM, interrupt)
    import threading

    hooks_stop = threading.Event()
    nl.hooks.start(hooks_stop)  # [[hooks]]: the outbox posted in the background
    try:
        _run_until_interrupted(server)
    finally:
        hooks_stop.set()
        signal.signal(signal.SIGTERM, previous)
        nl.clicks.close()


def _hint(err: NewsletterError) -> None:
    if err.hint:
        click.secho(_("hint: %(hint)s", hint=err.hint_text(_spoken().translations.gettext)), fg="cyan", err=True)


def main(argv: list[str] | None = None, *, clock: Clock | None = None) -> int:
    """Entry point: run the CLI and map errors to exit codes (see the module docstring).

    :param argv: the arguments; None for the process's own (the ``newsletter`` script, ``python -m newsletter``),
        whose start and end follow: see :func:`_starting` and :func:`_ending`.
    :param clock: the time now for every command (tests pin it); the real clock by default.
    """
    if argv is None:
        _starting()
    try:
        return _run(argv, clock)
    finally:
        if argv is None:
            _ending()


#: New objects between two looks of the collector at the young ones, in the ``newsletter`` process (Python's
#: default: 700).
YOUNG_OBJECTS = 10_000


def _starting() -> None:
    """The process runs one command, whose start loads the store, the engine and their libraries: hundreds of
    thousands of objects that live as long as the process, in which the collector's passes (over the young
    objects every 700 new ones, over all of them now and then) find nothing to free. Looking every
    :data:`YOUNG_OBJECTS` makes them rarer (measured: 6 % of the CPU of a send with nothing left to do);
    the cycles a command leaves are still collected, a few thousand objects later."""
    import gc

    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


def _ending() -> None:
    """The process ends with its command: its objects need no collecting on the way out. Without this the
    interpreter's last collections walk every object the store, the renderer and the engine made (a
    fifth of a second after a send, measured, with nothing to print or write by then); ``atexit``
    handlers and the files, connections and processes the command closed are unaffected."""
    import gc

    gc.freeze()


def _run(argv: list[str] | None, clock: Clock | None) -> int:
    from newsletter.library import lend_to_gettext

    lend_to_gettext()  # click's usage errors and --help headings in the terminal's language too
    try:
        code = cli.main(args=argv, prog_name="newsletter", standalone_mode=False, obj=clock)
    except click.exceptions.Abort:
        click.echo(_("Aborted."), err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return 2
    except NewsletterError as err:
        click.secho(_("error: %(message)s", message=said(err)), fg="red", err=True)
        _hint(err)
        return err.exit_code
    return code if isinstance(code, int) else 0  # a command's Exit(n) comes back as a value here



@cli.group()
def bounces() -> None:
    """Bounces, complaints and unsubscribe requests that come back by mail ([bounces] in newsletter.toml): process.

    Example:

        newsletter bounces process
    """


#: sysexits' EX_TEMPFAIL: a Postfix pipe transport keeps the message queued and tries again later.
EX_TEMPFAIL = 75


@bounces.command("process")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Read one message on standard input (a Postfix pipe transport) instead of the mailbox.")
@pass_newsletter
def bounces_process(nl: Newsletter, from_stdin: bool) -> int:
    """Read the bounce mailbox (Maildir or IMAP), record each bounce, complaint and unsubscribe request,
    and move processed messages aside. Exit 1 when some are left for a human.

    With --stdin, exit 75 (try again later) when nothing could be recorded, so that Postfix keeps the message.

    Example:

        newsletter bounces process    (or, from a Postfix pipe: newsletter bounces process --stdin)
    """
    try:
        counts = nl.process_bounces(sys.stdin.buffer.read() if from_stdin else None)
    except NewsletterError as err:
        if not from_stdin:
            raise
        click.secho(_("error: %(message)s", message=said(err)), fg="red", err=True)
        return EX_TEMPFAIL
    click.echo(", ".join(said(part) for part in counts.parts()))
    return 1 if counts.left and not counts.kept else 0


@cli.group("dkim")
def dkim_group() -> None:
    """DKIM signing keys for the SMTP and outbox adapters (see [dkim] in newsletter.toml).

    Example:

        newsletter dkim keygen nl2026
    """


@dkim_group.command("keygen")
@click.argument("selector")
@click.option("--type", "kind", type=click.Choice(["rsa", "ed25519"]), default="rsa", show_default=True,
              help="rsa (2048 bits, verified everywhere) or ed25519 (RFC 8463; not every receiver verifies it yet).")
@click.option("--domain", help="The signing domain (default: [dkim] domain, else the sender's domain).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The private key file to create (default: dkim/SELECTOR.pem in the project).")
@click.pass_obj
def dkim_keygen(project: LazyNewsletter, selector: str, kind: str, domain: str | None, out: Path | None) -> None:
    """Create a DKIM private key (mode 0600, never overwritten) and print the DNS record to publish.

    Example:

        newsletter dkim keygen nl2026 --type ed25519
    """
    beside_rsa = False  # a project signing with one key already, which the new Ed25519 key joins
    if domain is None or out is None:  # --domain and --out together need no project
        settings = project.nl.settings
        domain = domain or (settings.dkim.domain if settings.dkim else settings.newsletter.sender_domain)
        out = out or settings.root / "dkim" / f"{selector.lower()}.pem"
        root = settings.root
        beside_rsa = settings.dkim is not None and len(settings.dkim.keys) == 1 and domain == settings.dkim.domain
    else:
        root = Path.cwd()
    made = make_dkim_key(selector, domain, kind, out.absolute())
    shown = made.path.relative_to(root) if made.path.is_relative_to(root) else made.path
    click.echo(_("Wrote %(file)s (%(kind)s, mode 0600): keep it secret, back it up, never commit it.", file=shown,
                 kind=kind), err=True)
    if kind == "ed25519":
        click.echo(_("Ed25519 alone is not verified by most receivers yet (SpamAssassin's Mail::DKIM, among others, "
                     "treats the mail as unsigned): sign with an RSA key beside it (RFC 8463)."), err=True)
    dig = f"dig TXT {made.selector}._domainkey.{made.domain}"
    if beside_rsa and kind == "ed25519":
        click.echo(_("Publish this TXT record, wait until `%(dig)s` shows it, then add the two lines below to your "
                     "[dkim] table (its private_key_file stays the RSA key):", dig=dig), err=True)
        click.echo(made.zone_line)
        click.echo(f'\ned25519_selector = "{made.selector}"\ned25519_private_key_file = "{shown}"')
        return
    click.echo(_("Publish this TXT record, wait until `%(dig)s` shows it, then add the [dkim] table below:", dig=dig),
               err=True)
    click.echo(made.zone_line)
    click.echo(f'\n[dkim]\nselector = "{made.selector}"\ndomain = "{made.domain}"\nprivate_key_file = "{shown}"')
    if kind == "ed25519":
        click.echo(_("Then add the RSA key: `newsletter dkim keygen %(selector)s-rsa`, publish it, and in [dkim] set "
                     "selector and private_key_file to it, and `ed25519_selector = \"%(selector)s\"` and "
                     "`ed25519_private_key_file = \"%(file)s\"` to this one.", selector=made.selector, file=shown),
                   err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON list.")
@click.option("--nameserver", "nameservers", multiple=True, metavar="IP",
              help="Ask this DNS server instead of the system's (repeatable).")
@click.option("--timeout", type=click.FloatRange(0.5, 60), default=5.0, show_default=True,
              help="Seconds each DNS lookup and network step may take.")
@click.option("--ca-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Trust these CAs for base_url (PEM) instead of the system's.")
@click.pass_obj
def doctor(project: LazyNewsletter, as_json: bool, nameservers: tuple[str, ...], timeout: float,
           ca_file: Path | None) -> None:
    """Check the setup as receivers see it: SPF, DKIM, DMARC, bounce MX, https, one-click, secrets.

    Exit 1 when any line is an error. Example:

        NEWSLETTER_SECRET_KEY=… newsletter doctor --nameserver 1.1.1.1
    """
    findings = diagnose(project.path, nameservers=nameservers, timeout=timeout, ca_file=ca_file)
    if as_json:
        click.echo(json.dumps([f.as_dict(_spoken()) for f in findings], ensure_ascii=False, indent=2))
    else:
        colors = {"ok": "green", "warning": "yellow", "error": "red"}
        for finding in findings:
            click.secho(finding.line(_spoken()), fg=colors[finding.level.value])
    if any(finding.level.value == "error" for finding in findings):
        raise click.exceptions.Exit(1)


@cli.group()
def users() -> None:
    """The editors' desk accounts: add, list, remove, passwd, totp.

    Roles: editor (writes issues), approver (also approves), operator (also runs the newsletter).

    Example:

        newsletter users add camille --role editor --email camille@example.org
    """


def _read_password(from_stdin: bool) -> str:
    """The new password: one line of standard input, or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(_("Password"), hide_input=True, confirmation_prompt=_("Repeat the password")))


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(("editor", "approver", "operator")), required=True,
              help="editor writes, approver also approves, operator also runs the newsletter.")
@click.option("--email", default="", help="The account's own address: where the desk sends test copies.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_newsletter
def users_add(nl: Newsletter, name: str, role: str, email: str, password_stdin: bool) -> None:
    """Create a desk account (a removed one comes back with the new role and password).

    Example:

        newsletter users add camille --role editor --email camille@example.org
    """
    account = nl.users.add(name, role, _read_password(password_stdin), email=email)
    click.echo(_("Account %(name)s (%(role)s) can now sign in to the desk.", name=account.name, role=account.role))


@users.command("list")
@pass_newsletter
def users_list(nl: Newsletter) -> None:
    """List the accounts, removed ones included.

    Example:

        newsletter users list
    """
    accounts = nl.users.list()
    if not accounts:
        click.echo(_("No account yet; create one with `newsletter users add NAME --role editor`."))
    for account in accounts:
        created = account.created_at.astimezone(nl.settings.tz).strftime("%Y-%m-%d %H:%M")
        removed = account.disabled_at.astimezone(nl.settings.tz) if not account.active and account.disabled_at else None
        state = "" if removed is None else _("  removed %(when)s", when=removed.strftime("%Y-%m-%d %H:%M"))
        if account.two_factor:
            state += _("  with a code (users totp)")
        click.echo(f"{account.name:<24} {account.role:<9} {account.email or '-':<32} "
                   + _("created %(when)s", when=created) + state)


@users.command("remove")
@click.argument("name")
@pass_newsletter
def users_remove(nl: Newsletter, name: str) -> None:
    """Disable an account: it can no longer sign in (its name stays in the records).

    Example:

        newsletter users remove camille
    """
    nl.users.remove(name)
    click.echo(_("Account %(name)s removed; it can no longer sign in.", name=name))


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_newsletter
def users_passwd(nl: Newsletter, name: str, password_stdin: bool) -> None:
    """Give an account a new password.

    Example:

        newsletter users passwd camille
    """
    nl.users.set_password(name, _read_password(password_stdin))
    click.echo(_("Password of %(name)s changed.", name=name))


@users.command("totp")
@click.argument("name")
@click.option("--reset", is_flag=True, help="Remove the account's second factor (a lost phone); it enrols again.")
@pass_newsletter
def users_totp(nl: Newsletter, name: str, reset: bool) -> None:
    """Enrol an account in two-factor sign-in: the desk then asks for a code after the password.

    Prints the otpauth:// URI for the authenticator app (a QR code in a terminal that shows it)
    and ten recovery codes, shown once. Example:

        newsletter users totp camille
    """
    if reset:
        nl.users.reset_second_factor(name)
        click.echo(_("Two-factor sign-in of %(name)s removed; its sessions ended.", name=name))
        return
    enrolment = nl.users.enrol(name)
    click.echo(enrolment.uri)
    if sys.stdout.isatty():
        import segno

        segno.make(enrolment.uri, error="m").terminal(compact=True)
    click.echo(_("Recovery codes (each signs in once; they are not shown again):"))
    for code in enrolment.recovery_codes:
        click.echo(f"  {code}")


@cli.group("api-keys")
def api_keys() -> None:
    """The HTTP API's keys: add, list, revoke.

    Scopes: subscribers:read, subscribers:write, issues:read.

    Example:

        newsletter api-keys add cms --scope subscribers:read --scope subscribers:write
    """


@api_keys.command("add")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(("subscribers:read", "subscribers:write", "issues:read")),
              help="What the key may do; repeat for several.")
@pass_newsletter
def api_keys_add(nl: Newsletter, name: str, scopes: tuple[str, ...]) -> None:
    """Make a key and print it once (only its hash is kept).

    Example:

        newsletter api-keys add paywall --scope subscribers:write
    """
    key, secret = nl.api_keys.add(name, scopes)
    click.echo(secret)
    click.echo(_("API key %(name)s (%(scopes)s): copy it now, it is not shown again.", name=key.name,
                 scopes=" ".join(key.scopes)), err=True)


@api_keys.command("list")
@pass_newsletter
def api_keys_list(nl: Newsletter) -> None:
    """List the keys (names, scopes, creation, last use; never the key).

    Example:

        newsletter api-keys list
    """
    keys = nl.api_keys.list()
    if not keys:
        click.echo(_("No API key yet; make one with `newsletter api-keys add NAME --scope subscribers:read`."))

    def when(at: datetime | None) -> str:
        return at.astimezone(nl.settings.tz).strftime("%Y-%m-%d %H:%M") if at is not None else _("never")

    for key in keys:
        state = "" if key.active else _("  revoked %(when)s", when=when(key.revoked_at))
        click.echo(f"{key.name:<24} {' '.join(key.scopes):<52} "
                   + _("created %(when)s  last used %(used)s", when=when(key.created_at), used=when(key.last_used_at))
                   + state)


@api_keys.command("revoke")
@click.argument("name")
@pass_newsletter
def api_keys_revoke(nl: Newsletter, name: str) -> None:
    """Revoke a key: requests with it get 401 from now on.

    Example:

        newsletter api-keys revoke paywall
    """
    nl.api_keys.revoke(name)
    click.echo(_("API key %(name)s revoked.", name=name))


@cli.group()
def hooks() -> None:
    """The outgoing webhooks of [[hooks]]: what was posted, what waits, what was given up.

    `serve` and `schedule run` post the events in the background; an event a receiver did not
    take is tried again for a day, then given up until `hooks retry`.

    Example:

        newsletter hooks list --state failed
    """


@hooks.command("list")
@click.option("--state", type=click.Choice(("pending", "delivered", "failed")), help="Only the events in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="How many, newest first.")
@pass_newsletter
def hooks_list(nl: Newsletter, state: str | None, limit: int) -> None:
    """List the latest events, each with its receiver, state, attempts and last error.

    Example:

        newsletter hooks list --limit 20
    """
    events = nl.hooks.events(state=state, limit=limit)
    if not nl.settings.hooks:
        click.echo(_("No [[hooks]] table in newsletter.toml: no event is written."))
    elif not events:
        click.echo(_("No event yet.") if state is None else _("No %(state)s event.", state=_hook_state(state)))

    def when(at: datetime | None) -> str:
        return at.astimezone(nl.settings.tz).strftime("%Y-%m-%d %H:%M:%S") if at is not None else "-"

    for event in events:
        detail = {"delivered": _("delivered %(when)s", when=when(event.delivered_at)),
                  "pending": _("next attempt %(when)s", when=when(event.next_attempt_at)),
                  "failed": _("given up")}.get(event.state, event.state)
        click.echo(f"{event.event_id}  {event.type:<24} {_hook_state(event.state):<9} {when(event.created_at)}  "
                   + _("attempts %(num)d", num=event.attempts) + f"  {detail}  {nl.hooks.shown(event.hook)}")
        if event.last_error and event.state != "delivered":
            click.echo(_("    last error: %(error)s", error=event.last_error))


def _hook_state(state: str) -> str:
    """An outgoing event's state in the terminal's language."""
    names = {"pending": _("pending"), "delivered": _("delivered"), "failed": _("failed")}
    return names.get(state, state)


@hooks.command("retry")
@click.argument("event_id", required=False)
@pass_newsletter
def hooks_retry(nl: Newsletter, event_id: str | None) -> None:
    """Try given-up events again (all of them, or EVENT_ID's), with a new day of retries.

    The event keeps its id: a receiver that took it before can tell it is the same.

    Example:

        newsletter hooks retry msg_3kq…
    """
    count = nl.hooks.retry(event_id)
    if not count:
        raise UsageError(N_("no given-up event %(event)s") if event_id else N_("no given-up event to retry"),
                         values={"event": event_id} if event_id else None,
                         hint=N_("`newsletter hooks list --state failed` shows them"))
    click.echo(ngettext("%(num)d event to be posted again by `serve` or `schedule run`.",
                        "%(num)d events to be posted again by `serve` or `schedule run`.", count))


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default: [desk] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default: [desk] port, 8090).")
@pass_newsletter
def desk(nl: Newsletter, host: str | None, port: int | None) -> None:
    """Run the editors' desk: write, preview, check and approve issues in a browser.

    Accounts come from `newsletter users add`. Meant for 127.0.0.1, or behind a reverse proxy
    at [desk] base_url (https) for remote editors.

    Example:

        NEWSLETTER_SECRET_KEY=… newsletter desk --port 8090
    """
    from newsletter.frontends.desk.server import create_server  # the command line launches the other front ends

    _secret_key(nl, listen=host or nl.settings.desk.host)
    server = create_server(nl, host=host, port=port)
    logging.getLogger("newsletter").setLevel(logging.INFO)
    url = f"http://{server.effective_host}:{server.effective_port}/"
    click.echo(_("The desk is on %(url)s (Ctrl+C to stop)", url=url))
    _run_until_interrupted(server)
