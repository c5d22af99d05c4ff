"""French typography of the words people read: where text may hold code, and what correct French looks like.

The convention is the one :mod:`newsletter.content.typography` applies to the email: a no-break space
(U+00A0) before ``:`` and inside « », a narrow no-break space (U+202F) before ``; ? !``, the apostrophe ’.
"""

from __future__ import annotations

import re

NBSP, NNBSP = "\u00a0", "\u202f"

#: What is written as typed, never as French prose: code and commands between backticks, merge fields,
#: HTML tags, addresses, ``file:line``, contrast ratios, YAML ``key: "value"`` examples, CLDR patterns,
#: command-line options and the capitals of a usage (FILE, REASON).
CODE = re.compile(r"`[^`]*`|\{\{.*?\}\}|<[^>]+>|(?:https?|mailto):\S*|%\(\w+\)[sd]:(?:%\(\w+\)d|\d+)"
                  r"|\b\d+(?:,\d+)?:1\b|(?:\b\w+|%\(\w+\)s): \"|\bclé: valeur|\bimage(?:_alt)?:(?= )"
                  r"|'[^']*'(?= HH)|\(\\?\"\)|'\"'|\"[^\"]{1,3}\"|--[\w-]+|\b[A-Z]{3,}\b")

#: Each finding: (what is wrong, a pattern that finds it in prose).
MISTAKES = (
    ("a straight apostrophe (write ’)", re.compile(r"'")),
    ("an ordinary or no space before : (write a no-break space, U+00A0)", re.compile(r"(?:(?<=[^\s\u00a0])|(?<= )):(?=\s|$)")),
    ("an ordinary or no space before ; ? ! (write a narrow no-break space, U+202F)",
     re.compile(r"(?:(?<=[^\s\u202f\u00a0(])|(?<= ))[;?!](?=\s|$|\)|»)")),
    ("« without a no-break space after it", re.compile(r"«(?!\u00a0)")),
    ("» without a no-break space before it", re.compile(r"(?<!\u00a0)»")),
    ("two spaces in a row around a no-break space", re.compile(r"[\u00a0\u202f][ \u00a0\u202f]|[ ][\u00a0\u202f]")),
    ("an English word", re.compile(r"\b(?:the|and|is|are|with|without|please|must|your|you|this|that|of|an|to|"
                                   r"has|have|not|or|email address)\b")),
)


#: Words of an English sentence: none may be left in what a French terminal reads.
ENGLISH = re.compile(r"\b(?:the|and|is|are|with|without|must|your|you|this|that|of|an|to|has|have|not|or|no|"
                     r"Usage|Options|Commands|Error|Try|Missing|Exported|Erased|Wrote|Publish|Worker|recipients|"
                     r"subject|sent|failed|bounces?|complaints?|unsubscribes?|duplicates?|left|revoked|created|"
                     r"last used|never|unknown|key|event|hint|clicks|rate|items|position|title|ready|missing)\b")
#: What a French sentence quotes as it was said (a provider's or a library's own answer, between « »), the
#: ``[table]`` of newsletter.toml it names, the addresses, paths and domain names it cites: not prose.
_QUOTED = re.compile(r"«[^»]*»|\[[\w.]+\]|[\w.+-]+@[\w.-]+|(?:/[\w.-]+)+/?|\b[\w-]+(?:\.[\w-]+)+\b")


def unquoted(text: str) -> str:
    """``text`` with what it quotes as it was said (answers in « », tables, addresses, paths, domains) as "…"."""
    return _QUOTED.sub("…", text)


def english(text: str) -> list[str]:
    """The English words left in the prose of ``text`` (commands, options, addresses, paths and quoted answers
    are not prose)."""
    return [match.group(0) for piece in prose(unquoted(text)) for match in ENGLISH.finditer(piece)]


def prose(text: str) -> list[str]:
    """The pieces of ``text`` that are French prose (code, addresses and examples taken out)."""
    return CODE.split(text)


def mistakes(text: str) -> list[str]:
    """What is wrong with the French of ``text``, each said with the piece that shows it."""
    found = []
    for piece in prose(text):
        for what, pattern in MISTAKES:
            for match in pattern.finditer(piece):
                found.append(f"{what}: …{piece[max(0, match.start() - 25):match.end() + 15]}…")
    return found


def typeset(text: str) -> str:
    """``text`` with the French spaces and apostrophes written right (prose only, code left as typed)."""
    out, last = [], 0
    for match in CODE.finditer(text):
        out.append(_typeset_prose(text[last:match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_typeset_prose(text[last:]))
    return "".join(out)


def _typeset_prose(piece: str) -> str:
    piece = piece.replace("'", "’")
    piece = re.sub(r"[ \u00a0\u202f]*([;?!])(?=\s|$|\)|»)", lambda m: NNBSP + m.group(1), piece)
    piece = re.sub(r"(?<=[^\s\u00a0\u202f])[ \u00a0\u202f]*:(?=\s|$)|(?:^|(?<=[ ]))[ \u00a0\u202f]*:(?=\s|$)",
                   NBSP + ":", piece)
    piece = re.sub(r"«[ \u00a0\u202f]*", "«" + NBSP, piece)
    piece = re.sub(r"[ \u00a0\u202f]*»", NBSP + "»", piece)
    return piece
