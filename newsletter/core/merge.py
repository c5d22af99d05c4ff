"""Merge fields: what editors may write, and the placeholders that carry them through rendering.

Editors write ``{{ first_name }}`` (optionally ``{{ first_name | default("lectrice, lecteur") }}``)
in an issue's intro or an item's body. The issue is rendered **once** into a master HTML and a
master text in which every per-recipient value is a placeholder token; sending then costs one
substitution per recipient (:class:`CompiledTemplate`).

Tokens are plain ASCII letters and digits (``NLMRG3Q``) because everything else is at risk on
the way: Markdown treats ``_`` and ``*``, MJML and premailer rewrite attributes and URLs, and
``{{ … }}`` inside an ``href`` comes out percent-encoded. Each token stands for one
*slot*: a field, the context it sits in, and a default. The context decides the escaping at
substitution time, so a first name is HTML-escaped in the HTML body, kept as is in the text
body, and an unsubscribe URL is attribute-escaped inside ``href``.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass, field as dataclass_field
from enum import Enum
from typing import Mapping

from newsletter.core.i18n import N_, Message, Quoted

#: Fields an editor may use in content; the first three come from the subscriber list.
EDITOR_FIELDS = ("first_name", "last_name", "email")
#: Fields only templates use, computed at send time: the unsubscribe link, and the web version's
#: address (public for subscribers, with a proofreading key in test copies), and the nonce of counted
#: links (:mod:`newsletter.core.click_tokens`), which only the tracking pass of a send puts in.
TEMPLATE_FIELDS = (*EDITOR_FIELDS, "unsubscribe_url", "preferences_url", "web_url", "click_nonce")

TOKEN_PREFIX = "NLMRG"
TOKEN_RE = re.compile(TOKEN_PREFIX + r"(\d{1,4})Q")


def slot_token(number: int) -> str:
    """The token that stands for merge slot ``number`` in a rendered master (what a provider substitutes)."""
    return f"{TOKEN_PREFIX}{number}Q"

#: What an editor writes: ``{{ field }}`` or ``{{ field | default("text") }}``, on one line.
FIELD_RE = re.compile(
    r"\{\{\s*(?P<field>[^\s|{}]*)\s*"
    r"(?:\|\s*default\s*\(\s*(?:\"(?P<dq>[^\"\n]*)\"|'(?P<sq>[^'\n]*)')\s*\)\s*)?"
    r"(?P<rest>[^{}\n]*)\}\}"
)
#: What is left once the well-formed fields are taken out and still looks like one: a
#: brace next to a name (``{ first_name }``, ``{{ first_name.``, ``first_name }``), a
#: doubled brace on its own, or a template tag (``{% … %}``).
SUSPECT_RE = re.compile(
    r"\{+\s*[A-Za-z_]\w*\s*\}*"
    r"|[A-Za-z_]\w*\s*\}+"
    r"|\{\{|\}\}|\{%|%\}"
)
_NAME = re.compile(r"[A-Za-z_]\w*")
#: A single brace is ordinary text (``{a, b}``, ``{page 3}``) unless it encloses one name alone
#: (``{prénom}``) or stands beside a field's name or a French name for one (``{ first_name``).
_ENCLOSED = re.compile(r"\{\s*[A-Za-z_]\w*\s*\}")
_FIELD_WORDS = ("prénom", "prenom", "nom", "courriel", "mail", "adresse")
_TEMPLATE_STYLE = '{{ first_name }} or {{ first_name | default("…") }}'


class Context(str, Enum):
    """Where a placeholder sits, which decides how its value is escaped."""

    HTML = "html"  # HTML text or attribute value
    URL = "url"  # a whole URL inside an HTML attribute (href); the value must be http(s)
    TEXT = "text"  # the plain-text part: no escaping


@dataclass(frozen=True)
class Slot:
    """One placeholder: which field, in which context, with which fallback."""

    field: str
    context: Context
    default: str = ""


def _did_you_mean(name: str) -> Message:
    """``{{ firstname }}`` → ``did you mean {{ first_name }}?``, as unknown config keys get."""
    close = difflib.get_close_matches(name.lower(), EDITOR_FIELDS, n=1, cutoff=0.6)
    return Message(N_("did you mean {{ %(name)s }}?"), {"name": close[0]}) if close \
        else Message(N_("known fields: %(fields)s"), {"fields": ", ".join(EDITOR_FIELDS)})


def _suspect(text: str, start: int, end: int) -> FieldUse:
    shown = text[start:end].strip()
    name = _NAME.search(shown)
    if name and name.group(0) in EDITOR_FIELDS:
        hint = Message(N_("write {{ %(name)s }}"), {"name": name.group(0)})
    elif name and difflib.get_close_matches(name.group(0).lower(), EDITOR_FIELDS, n=1, cutoff=0.6):
        hint = _did_you_mean(name.group(0))
    else:
        hint = Message(N_("write %(style)s"), {"style": _TEMPLATE_STYLE})
    error = Message(N_("%(shown)s looks like a merge field but is not one, and would be sent as it is; %(hint)s "
                       "(two braces on each side; if the braces are meant as text, remove them)"),
                    {"shown": Quoted(shown), "hint": hint})
    return FieldUse(start, end, name.group(0) if name else "", "", str(error), why=error)


@dataclass(frozen=True)
class FieldUse:
    """One merge field found in editor text (or a malformed one, then with an ``error``)."""

    start: int
    end: int
    field: str
    default: str
    error: str = ""  # in English; ``why`` keeps it translatable
    has_default: bool = False
    why: Message | None = dataclass_field(default=None, compare=False)


def find_fields(text: str) -> list[FieldUse]:
    """Every merge field in ``text``, in order; malformed, unknown or look-alike ones carry an error."""
    uses: list[FieldUse] = []
    pos = 0
    for m in FIELD_RE.finditer(text):
        uses.extend(_suspects(text, pos, m.start()))
        pos = m.end()
        field = m.group("field")
        has_default = m.group("dq") is not None or m.group("sq") is not None
        default = m.group("dq") if m.group("dq") is not None else (m.group("sq") or "")
        why: Message | None = None
        if m.group("rest").strip():
            why = Message(N_("merge field %(field)s is not understood; write %(style)s"),
                          {"field": Quoted(m.group(0)), "style": _TEMPLATE_STYLE})
        elif field not in EDITOR_FIELDS:
            why = Message(N_("unknown merge field {{ %(field)s }}; %(hint)s"),
                          {"field": field, "hint": _did_you_mean(field)})
        uses.append(FieldUse(m.start(), m.end(), field, default, str(why) if why else "", has_default, why))
    uses.extend(_suspects(text, pos, len(text)))
    return uses


def _looks_like_a_field(found: str) -> bool:
    """Whether a :data:`SUSPECT_RE` match is a broken merge field rather than braces in prose."""
    if any(mark in found for mark in ("{{", "}}", "{%", "%}")) or _ENCLOSED.fullmatch(found.strip()):
        return True
    name = _NAME.search(found)
    word = name.group(0).lower() if name else ""
    return bool(word) and (word in _FIELD_WORDS
                           or bool(difflib.get_close_matches(word, EDITOR_FIELDS, n=1, cutoff=0.6)))


def _suspects(text: str, start: int, end: int) -> list[FieldUse]:
    return [_suspect(text, start + m.start(), start + m.end()) for m in SUSPECT_RE.finditer(text[start:end])
            if _looks_like_a_field(m.group(0))]


class MergeSlots:
    """Allocates one token per distinct slot, in order of first use (so output is deterministic)."""

    def __init__(self) -> None:
        self._index: dict[Slot, int] = {}
        self.slots: list[Slot] = []

    def token(self, field: str, context: Context, default: str = "") -> str:
        """Return the placeholder token for ``field`` in ``context``.

        :raises ValueError: for a field no recipient can provide (a programming error in a template).
        """
        if field not in TEMPLATE_FIELDS:
            raise ValueError(f"unknown merge field {field!r}; known: {', '.join(TEMPLATE_FIELDS)}")
        slot = Slot(field, Context(context), default)
        if slot not in self._index:
            self._index[slot] = len(self.slots)
            self.slots.append(slot)
        return slot_token(self._index[slot])


def escape_for(value: str, context: Context) -> str:
    """``value`` escaped for a placeholder in ``context``."""
    if context is Context.TEXT:
        return value
    return html.escape(value, quote=True)


class CompiledTemplate:
    """A master document split once at its placeholders; :meth:`render` is one join per recipient."""

    __slots__ = ("_parts", "_slots", "fields")

    def __init__(self, master: str, slots: MergeSlots) -> None:
        pieces = TOKEN_RE.split(master)
        self._parts: list[str] = pieces[0::2]
        indices = [int(i) for i in pieces[1::2]]
        if any(i >= len(slots.slots) for i in indices):
            raise ValueError("the master document holds a placeholder this render did not allocate")
        self._slots = [slots.slots[i] for i in indices]
        self.fields = frozenset(s.field for s in self._slots)

    @property
    def parts(self) -> list[str]:
        """The text between the placeholders: one more piece than there are placeholders."""
        return self._parts

    def values(self, values: Mapping[str, str]) -> list[str]:
        """What goes into each placeholder, in order, for one recipient: missing or empty values fall back to
        the slot's default; each escaped for its context.

        :param values: field name → raw (unescaped) value.
        """
        return [escape_for(values.get(slot.field) or slot.default, slot.context) for slot in self._slots]

    def render(self, values: Mapping[str, str]) -> str:
        """Substitute one recipient's values (see :meth:`values`)."""
        parts = self._parts
        out = [parts[0]]
        for i, value in enumerate(self.values(values)):
            out.append(value)
            out.append(parts[i + 1])
        return "".join(out)

