"""MJML → responsive HTML → HTML with inlined CSS.

The ``mjml`` package (a Python port of MJML) turns the template into table-based HTML, and
premailer copies the CSS rules into ``style`` attributes, because many mail clients ignore
``<style>`` blocks. The ``<style>`` blocks are kept as well, for the media queries that make
the layout responsive in the clients that honour them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import premailer
from mjml import mjml_to_html

from newsletter.errors import RenderError

_DOCTYPE = "<!doctype html>\n"
_SIZED = ("table", "td", "th", "img")
_COLOURED = ("body", "table", "tr", "td", "th")
_BUTTON = re.compile(r"<mj-button\b[^>]*>")
_LABEL = re.compile(r'\s(title|aria-label|name)="([^"]*)"')
_MARK = re.compile(r'\sname="nl-button-(\d+)"')


def _mark_buttons(source: str) -> tuple[str, list[str]]:
    """The source with each labelled ``mj-button``'s ``title`` (and ``aria-label``) replaced by a
    numbered ``name`` the port keeps, and the attributes its ``<a>`` gets back after compiling.

    The Python port of MJML drops ``title`` on ``mj-button`` (npm MJML keeps it), and a title alone
    does not name a link that has text: five "Lire la suite" buttons read the same to a screen
    reader. So the ``<a>`` gets the title back and, unless the template gave one, an ``aria-label``
    with the same words (WCAG 2.5.3: it begins with the visible text in the template's buttons).
    Values stay as Jinja2 escaped them.
    """
    restored: list[str] = []

    def mark(match: re.Match[str]) -> str:
        tag = match.group(0)
        found = dict(_LABEL.findall(tag))
        if "title" not in found and "aria-label" not in found:
            return tag
        attributes = [f'title="{found["title"]}"'] if "title" in found else []
        attributes.append(f'aria-label="{found.get("aria-label", found.get("title"))}"')
        if "name" in found:
            attributes.append(f'name="{found["name"]}"')
        restored.append(" ".join(attributes))
        tag = _LABEL.sub("", tag)
        return tag[:-2] + f' name="nl-button-{len(restored) - 1}"/>' if tag.endswith("/>") else \
            tag[:-1] + f' name="nl-button-{len(restored) - 1}">'
    return _BUTTON.sub(mark, source), restored


class _Inliner(premailer.Premailer):
    """premailer without two habits that hurt in Outlook for Windows, which sizes images by their
    ``width`` attribute: it overwrites the attributes MJML wrote (``<img width="544">`` became
    ``width="100%"``), and it gives ``width``/``height`` (and ``bgcolor``) attributes to elements
    that take none (the ``<p>`` of dividers, the masthead's ``<div>``). Attributes MJML wrote are kept; CSS sizes become attributes only on
    tables, cells and images that had none (premailer's ``disable_basic_attributes`` would drop
    those too)."""

    def _style_to_basic_html_attributes(self, element: Any, style_content: str, force: bool = False) -> None:
        had = set(element.attrib)
        super()._style_to_basic_html_attributes(element, style_content, force=False)
        if element.tag not in _SIZED:
            for name in ("width", "height"):
                if name not in had:
                    element.attrib.pop(name, None)
        if element.tag not in _COLOURED and "bgcolor" not in had:  # e.g. the masthead's <div>
            element.attrib.pop("bgcolor", None)


def mjml_to_email_html(source: str, *, template_name: str = "email.mjml.j2") -> str:
    """Compile MJML and inline its CSS.

    :param source: the MJML document (already rendered by Jinja2).
    :param template_name: named in error messages.
    :return: the final HTML, starting with a doctype and ending with a newline.
    :raises RenderError: when MJML reports an error.
    """
    source, labels = _mark_buttons(source)
    try:
        result = mjml_to_html(source)
    except Exception as err:  # the port raises assorted errors on malformed MJML
        raise RenderError(f"{template_name}: MJML could not compile the template: {err}") from err
    if result.errors:
        raise RenderError(f"{template_name}: MJML reported: {'; '.join(map(str, result.errors))}")
    inliner = _Inliner(
        _MARK.sub(lambda match: " " + labels[int(match.group(1))], result.html),
        keep_style_tags=True,
        strip_important=False,
        remove_classes=False,
        disable_validation=True,
        allow_network=False,
        allow_loading_external_files=False,
        cssutils_logging_level=logging.CRITICAL,
        disable_leftover_css=False,
    )
    try:
        html = inliner.transform()
    except Exception as err:  # lxml and cssutils raise their own types on broken input
        raise RenderError(f"{template_name}: the CSS could not be inlined: {err}") from err
    if not html.lower().startswith("<!doctype"):
        html = _DOCTYPE + html
    return html.rstrip("\n") + "\n"
