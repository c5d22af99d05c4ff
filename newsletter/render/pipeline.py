"""Render an issue once into a master HTML and a master text that carry merge placeholders.

Jinja2 (autoescaped) fills the project's ``templates/email.mjml.j2``; MJML and premailer make
it responsive, table-based and inlined (:mod:`newsletter.render.html`); the plain-text part
comes from ``templates/email.txt.j2``. Per-recipient values (first name, unsubscribe URL…)
are placeholders (:mod:`newsletter.core.merge`), so sending costs one substitution per recipient.
Rendering depends only on the files and the settings: the same inputs give the same bytes.
"""

from __future__ import annotations

import re
import textwrap
from html import escape, unescape
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date
from markupsafe import Markup

from newsletter.brand.look import email_brand
from newsletter.config import Settings
from newsletter.content.markdown import TEXT_PREFIX, VALUE_PREFIX, MarkdownConverter, is_safe_url
from newsletter.content.model import Issue, Item
from newsletter.content.problems import Problem
from newsletter.content.typography import typographer
from newsletter.errors import RenderError, UnsafeFileError
from newsletter.core.click_tokens import NOT_FOR_ME, USEFUL
from newsletter.core.merge import CompiledTemplate, Context, MergeSlots, find_fields
from newsletter.content.publication import asset_url, read_image
from newsletter.content.publication import web_url as public_web_url
from newsletter.render.html import mjml_to_email_html
from newsletter.core.resources import default_templates_dir
from newsletter.render.rendered import RenderedIssue
from newsletter.render.tracking import feedback_url

HTML_TEMPLATE = "email.mjml.j2"
TEXT_TEMPLATE = "email.txt.j2"
TEXT_WIDTH = 78


def templates_dir(settings: Settings) -> Path:
    """The project's ``templates/`` when it has one, else the built-in default templates."""
    own = settings.templates_dir
    return own if (own / HTML_TEMPLATE).is_file() else default_templates_dir()


def _wrap(text: str, width: int = TEXT_WIDTH, indent: str = "") -> str:
    return textwrap.fill(
        str(text), width=width, initial_indent=indent, subsequent_indent=indent,
        break_long_words=False, break_on_hyphens=False,
    )


def _environment(folder: Path, *, html: bool, slots: MergeSlots, typo: Any) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=not html,
        lstrip_blocks=not html,
    )
    context = Context.HTML if html else Context.TEXT

    def merge(name: str, where: str = "", default: str = "") -> str:
        token = slots.token(name, Context(where) if where else context, default)
        return Markup(token) if html else token

    env.globals["merge"] = merge
    env.filters["typo"] = typo
    env.filters["wrap"] = _wrap
    return env


def image_src(item: Item, issue: Issue, settings: Settings, asset_base: str | None) -> str:
    """The ``src`` of an item's image: absolute URLs as they are; files under ``asset_base`` when it
    is given, else at their content-hashed URL (:mod:`newsletter.content.publication`). A file that is not
    safe to publish gives no image (``check`` reports it)."""
    if not item.image or is_safe_url(item.image):
        return item.image
    try:
        image = read_image(issue.folder, item.image)
    except UnsafeFileError:
        return ""
    if asset_base is not None:
        return asset_base + image.relative
    return asset_url(settings.newsletter.base_url, issue.date, image)


#: Where the brand's logo is served, under its content hash (``serve`` answers it; ``build`` copies it there).
LOGO_FOLDER = "brand/"


def logo_src(settings: Settings, asset_base: str | None) -> str:
    """The ``src`` of the brand's logo (empty without one, or when the file is not safe to publish):
    ``base_url/assets/brand/<sha256>.png``, or that name under ``asset_base`` when it is given."""
    logo = settings.brand.logo if settings.brand else ""
    if not logo:
        return ""
    try:
        image = read_image(settings.root, logo)
    except UnsafeFileError:
        return ""
    if asset_base is not None:
        return asset_base + LOGO_FOLDER + image.name
    return f"{settings.newsletter.base_url}/assets/{LOGO_FOLDER}{image.name}"


_VALUE_RE = re.compile(VALUE_PREFIX + r"(\d{1,5})Q")
#: Converted Markdown stands in the text template as a token, which the final typography pass skips.
_TEXT_RE = re.compile(TEXT_PREFIX + r"(\d{1,5})Q")


class _EditorValues:
    """Carries editor values (titles, URLs, alt texts…) past MJML as plain ASCII tokens.

    Jinja escapes ``"`` in ``href="{{ item.url }}"``, but the MJML compiler decodes its
    attributes and writes them back unescaped, so a ``"`` in a front-matter value would end
    the attribute and add others (``onerror=…``). The tokens go through MJML and premailer
    untouched, and :meth:`restore` puts each value back HTML-escaped (quotes included), which
    is right both in text and in any attribute, whatever the project's template does.
    """

    def __init__(self) -> None:
        self.values: list[str] = []

    def __call__(self, value: str) -> str:
        if not value:
            return ""  # keeps {% if item.url %} meaningful
        self.values.append(value)
        return f"{VALUE_PREFIX}{len(self.values) - 1}Q"

    def restore(self, html_text: str) -> str:
        return _VALUE_RE.sub(lambda m: escape(self.values[int(m.group(1))], quote=True), html_text)


def public_text(text: str) -> str:
    """Editor text for the public web version: a merge field with a default becomes that default at
    substitution; one without a default is dropped with the space before it ("Bonjour, voici…")."""
    out, last = [], 0
    for use in find_fields(text):
        if use.error or use.default:
            continue
        start = use.start
        while start > last and text[start - 1] in " \t":
            start -= 1
        out.append(text[last:start])
        last = use.end
    out.append(text[last:])
    return "".join(out)


def render_issue(issue: Issue, settings: Settings, *, asset_base: str | None = None,
                 web: bool = False) -> RenderedIssue:
    """Render ``issue`` into its master HTML and text.

    :param asset_base: URL prefix for the issue's own image files (``preview`` serves them
        locally, ``build`` writes them beside ``email.html``); by default their content-hashed
        URLs, which ``serve`` answers as soon as the issue exists.
    :param web: render the public web version instead of the email: no personal data, no
        link to itself, a call to subscribe, a page title, a description and share metadata.
    :raises RenderError: when a template is broken.
    """
    nl = settings.newsletter
    typo = typographer(nl.locale)
    slots = MergeSlots()
    converter = MarkdownConverter(nl.locale, text_width=TEXT_WIDTH, max_chars=settings.content.max_body_chars)
    problems: list[Problem] = []
    web_url = public_web_url(nl.base_url, issue.date)
    editor_text = public_text if web else (lambda text: text)

    intro = converter.convert(editor_text(issue.intro), path=issue.meta_path, first_line=issue.intro_line,
                              slots=slots)
    problems.extend(intro.problems)
    items: list[dict[str, Any]] = []
    links: list[tuple[str, ...]] = [tuple(_links(intro.html))]
    feedback = settings.analytics.feedback and not web
    for position, item in enumerate(issue.items, start=1):
        body = converter.convert(editor_text(item.body), path=item.path, first_line=item.body_line, slots=slots)
        problems.extend(body.problems)
        url = item.url if is_safe_url(item.url) else ""
        links.append(tuple(dict.fromkeys(([url] if url else []) + _links(body.html))))
        items.append({
            "number": position,
            "title": typo(item.title),
            "tag": typo(item.tag),
            "source": typo(item.source),
            "url": url,
            "image_src": image_src(item, issue, settings, asset_base),
            "image_alt": item.image_alt,
            "body_html": Markup(body.html),
            "body_text": body.text,
            "words": body.words,
            "feedback": {"useful": feedback_url(nl.base_url, issue.date.isoformat(), position, USEFUL),
                         "not_for_me": feedback_url(nl.base_url, issue.date.isoformat(), position, NOT_FOR_ME)}
            if feedback else None,
        })

    subject, preheader = typo(issue.subject), typo(issue.preheader)
    brand = email_brand(settings)
    context = {
        "lang": nl.language,
        "newsletter": {
            "name": nl.name,
            "sender_name": nl.sender_name,
            "postal_address": brand.postal_address,  # [brand] postal_address, else [newsletter]'s
            "reply_to_address": nl.reply_to,
            "base_url": nl.base_url,
        },
        "issue": {"subject": subject, "preheader": preheader, "date": issue.date},
        "date_label": format_date(issue.date, format="full", locale=nl.locale),
        "intro_html": Markup(intro.html),
        "intro_text": intro.text,
        "items": items,
        "web_url": web_url,
        "archive_url": f"{nl.base_url}/archive/",
        "subscribe_url": f"{nl.base_url}/subscribe",
        "web_version": web,
        "locale": nl.locale,
        "brand": {
            "name": brand.name,
            "logo_src": logo_src(settings, asset_base),
            "logo_alt": typo(brand.logo_alt),
            "logo_width": brand.logo_width,
            "primary_color": brand.primary_color,
            "primary_text_color": brand.primary_text_color,
            "header_color": brand.header_color,
            "header_text_color": brand.header_text_color,
            "header_date_color": brand.header_date_color,
            # A brand's masthead keeps its colours in dark mode: its logo was drawn for them.
            "header_kept": bool(settings.brand and settings.brand.header_color),
            "font_family": brand.font_family,
            "footer_text": typo(brand.footer_text),
        },
        "share_image": next(({"src": it["image_src"], "alt": it["image_alt"]} for it in items
                             if it["image_src"].startswith(("https://", "http://"))), None),
    }
    folder = templates_dir(settings)
    html_env = _environment(folder, html=True, slots=slots, typo=typo)
    text_env = _environment(folder, html=False, slots=slots, typo=typo)
    text_context, texts = _text_context(context)
    text = typo(_render_template(text_env, TEXT_TEMPLATE, text_context))
    # Converted Markdown already had its typography (text nodes only, never code or URLs).
    text = _TEXT_RE.sub(lambda m: texts[int(m.group(1))], text)
    editor_values = _EditorValues()
    mjml_source = _render_template(html_env, HTML_TEMPLATE, _html_context(context, editor_values))
    html = editor_values.restore(mjml_to_email_html(mjml_source, template_name=str(folder / HTML_TEMPLATE)))
    return RenderedIssue(
        issue=issue,
        subject=subject,
        preheader=preheader,
        html=html,
        text=_tidy_text(text),
        slots=slots,
        web_url=web_url,
        item_words=[it["words"] for it in items],
        item_texts=[str(it["body_text"]) for it in items],
        problems=problems,
        links=links,
        item_labels=[(item.title, item.tag) for item in issue.items],
    )


_HREF = re.compile(r'href="([^"]*)"')


def _links(html_text: str) -> list[str]:
    """The distinct http(s) links of converted Markdown, in order."""
    found = (unescape(href) for href in _HREF.findall(html_text))
    return list(dict.fromkeys(href for href in found if is_safe_url(href)))


def _html_context(context: dict[str, Any], values: _EditorValues) -> dict[str, Any]:
    """``context`` with the editor's plain-text values swapped for tokens (see :class:`_EditorValues`)."""
    issue = dict(context["issue"], subject=values(context["issue"]["subject"]),
                 preheader=values(context["issue"]["preheader"]))
    items = [dict(item, **{key: values(item[key]) for key in _ITEM_VALUES}) for item in context["items"]]
    brand = dict(context["brand"], **{key: values(context["brand"][key]) for key in _BRAND_VALUES})
    return dict(context, issue=issue, items=items, brand=brand)


_ITEM_VALUES = ("title", "tag", "source", "url", "image_src", "image_alt")
#: Brand values that may stand in attributes; colours and fonts are validated to hold no markup.
_BRAND_VALUES = ("logo_src", "logo_alt")


def _text_context(context: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``context`` for the text template, converted Markdown swapped for tokens (and the texts)."""
    texts = [context["intro_text"]] + [item["body_text"] for item in context["items"]]
    items = [dict(item, body_text=f"{TEXT_PREFIX}{n}Q" if item["body_text"] else "")
             for n, item in enumerate(context["items"], start=1)]
    intro = f"{TEXT_PREFIX}0Q" if context["intro_text"] else ""
    return dict(context, intro_text=intro, items=items), texts


def _render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as err:
        raise RenderError(f"{err.filename or name}:{err.lineno}: template syntax error: {err.message}") from err
    except jinja2.TemplateNotFound as err:
        raise RenderError(f"template {err.name} is missing from {env.loader.searchpath}")  # type: ignore[union-attr]
    except (jinja2.UndefinedError, ValueError) as err:
        raise RenderError(f"{name}: {err}") from err


_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"
