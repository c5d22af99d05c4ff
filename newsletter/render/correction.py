"""The correction mail: the note, what changed and a link to the corrected page, for each reader of a
corrected issue.

``templates/correction.mjml.j2`` (MJML + Jinja2, autoescaped: the note is the editor's plain text)
gives the HTML and, in a ``{% set subject = … %}`` at its top, the subject; ``templates/correction.txt.j2``
the text part. A project made before these templates existed uses the built-in ones. The reader's own
links (unsubscribe, preferences) are merge slots, so the messages are built as an issue's are
(:class:`newsletter.render.mime.MessageFactory`, with List-Unsubscribe and a text part).
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from newsletter.config import Settings
from newsletter.content.model import Issue
from newsletter.core.merge import Context, MergeSlots
from newsletter.core.resources import default_templates_dir
from newsletter.errors import RenderError
from newsletter.render.html import mjml_to_email_html
from newsletter.render.rendered import RenderedIssue

HTML_TEMPLATE = "correction.mjml.j2"
TEXT_TEMPLATE = "correction.txt.j2"


def _template_path(settings: Settings, name: str) -> Path:
    own = settings.templates_dir / name
    return own if own.is_file() else default_templates_dir() / name


def render_correction(settings: Settings, issue: Issue, *, issue_subject: str, day: str, note: str,
                      changes: list[str], page_url: str) -> RenderedIssue:
    """The correction mail's masters, with the reader's links as merge slots.

    :raises RenderError: naming the template, when one is broken or sets no subject.
    """
    nl = settings.newsletter
    slots = MergeSlots()
    parts: dict[str, str] = {}
    subject = ""
    for name, html in ((HTML_TEMPLATE, True), (TEXT_TEMPLATE, False)):
        where = Context.URL if html else Context.TEXT
        context = {
            "lang": nl.language, "issue_subject": issue_subject, "day": day, "note": note, "changes": changes,
            "page_url": page_url,
            "newsletter": {"name": nl.name, "sender_name": nl.sender_name, "postal_address": nl.postal_address,
                           "reply_to_address": nl.reply_to, "base_url": nl.base_url},
            "unsubscribe_url": slots.token("unsubscribe_url", where),
            "preferences_url": slots.token("preferences_url", where),
        }
        path = _template_path(settings, name)
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)), autoescape=html,
                                 undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                 trim_blocks=not html, lstrip_blocks=not html)
        try:
            template = env.get_template(path.name)
            parts[name] = template.render(context)
            if html:
                subject = " ".join(str(getattr(template.make_module(context), "subject", "")).split())
        except jinja2.TemplateError as err:
            raise RenderError(f"{path}: {err}", hint="fix the template, or delete it to use the built-in one") \
                from err
    if not subject:
        raise RenderError(f"{_template_path(settings, HTML_TEMPLATE)}: no subject",
                          hint='begin the template with {% set subject = "Correction : " ~ issue_subject %}')
    html_out = mjml_to_email_html(parts[HTML_TEMPLATE], template_name=str(_template_path(settings, HTML_TEMPLATE)))
    return RenderedIssue(issue=issue, subject=subject, preheader="", html=html_out, text=parts[TEXT_TEMPLATE],
                         slots=slots, web_url=page_url)
