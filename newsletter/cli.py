"""The ``newsletter`` command: parses arguments, calls the library, prints the outcome.

Exit codes: 0 success, 1 content or delivery problems, 2 usage or configuration errors.
Every :class:`NewsletterError` is caught here, once, and printed with its hint; a
traceback is a bug.
"""

from __future__ import annotations

import functools
import logging
from datetime import date
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from newsletter import __version__
from newsletter.build import build_issue
from newsletter.config import Settings, find_project, load_settings
from newsletter.content.check import check_issue
from newsletter.content.problems import Problem, errors
from newsletter.errors import ConfigError, ContentError, NewsletterError
from newsletter.scaffold import init_project, new_issue

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

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            root = self.path if self.path is not None else find_project(Path.cwd())
            self._settings = load_settings(root)
        return self._settings

    def day(self, value: date | None) -> date:
        return value or self.settings.today()


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


def _hint(err: NewsletterError) -> None:
    if err.hint:
        click.secho(f"hint: {err.hint}", fg="cyan", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to exit codes (see the module docstring)."""
    try:
        cli.main(args=argv, prog_name="newsletter", standalone_mode=False)
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
    return 0

