"""The correction mail: the note, what changed and a link to the corrected page, for each reader of a
corrected issue.

``templates/correction.mjml.j2`` (MJML + Jinja2, autoescaped: the note is the editor's plain text)
gives the HTML and, in a ``{% set subject = … %}`` at its top, the subject; ``templates/correction.txt.j2``
the text part. A project made before these templates existed uses the built-in ones. The reader's own
links (unsubscribe, preferences) are merge slots, so the messages are built as an issue's are
(:class:`newsletter.render.mime.MessageFactory`, with List-Unsubscribe and a text part).
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.content.model import Issue
from newsletter.core.merge import Context, MergeSlots
from newsletter.render.mail_templates import identity, render_mail
from newsletter.render.rendered import RenderedIssue


def render_correction(settings: Settings, issue: Issue, *, issue_subject: str, day: str, note: str,
                      changes: list[str], page_url: str) -> RenderedIssue:
    """The correction mail's masters, with the reader's links as merge slots.

    :raises RenderError: naming the template, when one is broken or sets no subject.
    """
    slots = MergeSlots()

    def context(html: bool) -> dict[str, object]:
        where = Context.URL if html else Context.TEXT
        return {"lang": settings.newsletter.language, "issue_subject": issue_subject, "day": day, "note": note,
                "changes": changes, "page_url": page_url, "newsletter": identity(settings),
                "unsubscribe_url": slots.token("unsubscribe_url", where),
                "preferences_url": slots.token("preferences_url", where)}

    mail = render_mail(settings, "correction", context,
                       subject_hint='begin the template with {% set subject = "Correction : " ~ issue_subject %}')
    return RenderedIssue(issue=issue, subject=mail.subject, preheader="", html=mail.html, text=mail.text,
                         slots=slots, web_url=page_url)
