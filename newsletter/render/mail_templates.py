"""A short mail of the newsletter's own (the welcome, a correction) from a pair of templates.

``templates/NAME.mjml.j2`` (MJML + Jinja2, autoescaped) gives the HTML and, in a ``{% set subject = … %}``
at its top, the subject; ``templates/NAME.txt.j2`` the text part. A project made before a pair existed
uses the built-in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jinja2

from newsletter.config import Settings
from newsletter.core.resources import default_templates_dir
from newsletter.errors import RenderError
from newsletter.render.html import mjml_to_email_html


@dataclass(frozen=True)
class MailParts:
    """A rendered mail: subject (on one line), email HTML and text."""

    subject: str
    html: str
    text: str


def template_path(settings: Settings, name: str) -> Path:
    """The project's template ``name``, else the built-in one."""
    own = settings.templates_dir / name
    return own if own.is_file() else default_templates_dir() / name


def identity(settings: Settings) -> dict[str, str]:
    """The ``newsletter`` context of these templates: who sends, from where."""
    nl = settings.newsletter
    return {"name": nl.name, "sender_name": nl.sender_name, "postal_address": nl.postal_address,
            "reply_to_address": nl.reply_to, "base_url": nl.base_url}


def render_mail(settings: Settings, name: str, context: Callable[[bool], dict[str, Any]], *,
                subject_hint: str) -> MailParts:
    """Render ``NAME.mjml.j2`` and ``NAME.txt.j2`` with ``context(html)``.

    :param subject_hint: how to set the subject, said when the HTML template sets none.
    :raises RenderError: naming the template, when one is broken or sets no subject.
    """
    parts: dict[bool, str] = {}
    subject = ""
    for html in (True, False):
        path = template_path(settings, f"{name}.mjml.j2" if html else f"{name}.txt.j2")
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)), autoescape=html,
                                 undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                 trim_blocks=not html, lstrip_blocks=not html)
        values = context(html)
        try:
            template = env.get_template(path.name)
            parts[html] = template.render(values)
            if html:
                subject = " ".join(str(getattr(template.make_module(values), "subject", "")).split())
        except jinja2.TemplateError as err:
            raise RenderError(f"{path}: {err}", hint="fix the template, or delete it to use the built-in one") \
                from err
    html_template = template_path(settings, f"{name}.mjml.j2")
    if not subject:
        raise RenderError(f"{html_template}: no subject", hint=subject_hint)
    return MailParts(subject, mjml_to_email_html(parts[True], template_name=str(html_template)), parts[False])
