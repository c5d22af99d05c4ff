"""Editor Markdown → safe HTML and readable plain text, with the problems found on the way.

One parse with markdown-it-py feeds both outputs. On the token stream, before anything is
rendered, the converter applies the locale's typography to text nodes only (never to URLs,
code or attributes), checks every link, and notes raw HTML. The HTML is then sanitized with
nh3 against a short allow-list, so what an editor types can never inject markup, scripts or
``javascript:`` links into the email, whatever the checks said.
"""

from __future__ import annotations

import re
import textwrap
from html import escape
from urllib.parse import unquote
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from email_validator import EmailNotValidError, validate_email

from newsletter.content.problems import N_, Problem
from newsletter.core.i18n import Quoted
from newsletter.core.merge import TOKEN_PREFIX, Context, MergeSlots, find_fields

if TYPE_CHECKING:
    from markdown_it.token import Token

ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
#: ``http(s)://``, then a host a browser accepts (a name, an IPv4 or a bracketed IPv6, maybe a user and a
#: port): ``https://exa%20mple.org`` is not one (the sanitizer would drop such a link without a word).
SAFE_URL = re.compile(r"https?://(?:[^\s/?#@]+@)?(?:[\w-]+(?:\.[\w-]+)*\.?|\[[0-9a-f:.]+\])(?::\d*)?(?=[\s/?#]|$)",
                      re.IGNORECASE)
#: What editors type for a link that Markdown then shows as typed, and how to fix each.
_BROKEN_LINKS = (
    (re.compile(r"\[[^\]\n]*\][ \t]+\((?:https?://|www\.|mailto:)[^)\s]*\)"),
     N_("%(link)s is shown as typed, not as a link: remove the space between ] and (")),
    (re.compile(r"\[[^\]\n]*\]\(<?(?:https?://|www\.|mailto:)[^)>]*?\s[^)]*\)"),
     N_("%(link)s is shown as typed, not as a link: its address holds a space; remove it (or write it %%20)")),
    (re.compile(r"\[[^\]\n]*\]\((?:https?://|www\.|mailto:)[^)\s]*$"),
     N_("%(link)s is shown as typed, not as a link: add the ) that closes the address")),
    (re.compile(r"\((?:https?://|www\.)[^)\s]*\)\[[^\]\n]+\]"),
     N_("%(link)s is shown as typed, not as a link: write the text first, then the address: [texte](https://…)")),
    (re.compile(r"<(?:https?://|mailto:)[^>\n]*\s[^>\n]*>"),
     N_("%(link)s is shown as typed, not as a link: its address holds a space; remove it (or write it %%20)")),
)
#: A link address without its scheme: ``www.example.org/…`` or ``example.org/…``.
_NO_SCHEME = re.compile(r"^(?:www\.)?[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?:[/?#]\S*)?$", re.IGNORECASE)
_FIELD_MARK = "NLFLD"
_FIELD_MARK_RE = re.compile(_FIELD_MARK + r"(\d+)Q")
_WORD = re.compile(r"[^\W_][\w’'-]*")
_URL_IN_TEXT = re.compile(r"\(?(?:https?://|mailto:)\S+\)?")
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f<>\"]")
#: Stand-ins of the render pipeline (:mod:`newsletter.render.pipeline`) for editor values.
VALUE_PREFIX = "NLVAL"
TEXT_PREFIX = "NLTXT"
#: Words used as stand-ins on the way to the email; editor text must not contain them.
RESERVED = (TOKEN_PREFIX, _FIELD_MARK, VALUE_PREFIX, TEXT_PREFIX)


def is_safe_url(url: str) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    return bool(SAFE_URL.match(url.strip()))


def mailto_address(href: str) -> str | None:
    """The address(es) of a well-formed ``mailto:`` link, else ``None``.

    Every address must be valid (no DNS lookup); a query (``?subject=…``) may follow.
    """
    if not href.lower().startswith("mailto:"):
        return None
    to = unquote(href[len("mailto:"):].split("?", 1)[0])
    addresses = [a.strip() for a in to.split(",")]
    if not to.strip() or any(_CONTROL_OR_SPACE.search(a) for a in addresses):
        return None
    try:
        for address in addresses:
            validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    return ", ".join(addresses)


def is_safe_link(href: str) -> bool:
    """Links an item may hold: ``http(s)://`` addresses and well-formed ``mailto:`` links."""
    return is_safe_url(href) or mailto_address(href) is not None


def count_words(text: str) -> int:
    """Words a reader reads: URLs shown in the text version are not counted."""
    return len(_WORD.findall(_URL_IN_TEXT.sub(" ", text)))


@dataclass
class Fragment:
    """A converted piece of Markdown (an item body or the intro)."""

    html: str
    text: str
    words: int
    problems: list[Problem] = field(default_factory=list)


class MarkdownConverter:
    """Converts editor Markdown for one locale; create one per render and reuse it."""

    def __init__(self, locale: str, *, text_width: int = 78, max_chars: int = 20_000) -> None:
        # The parser, the sanitizer and the typography load with the first converter: reading an issue's
        # files (an approval's digests, a send with nothing left to do) needs only :func:`is_safe_url`.
        from markdown_it import MarkdownIt

        from newsletter.content.typography import typographer

        self.md = MarkdownIt("commonmark", {"html": True})
        # Accept every URL at parse time so that the checks below can *see* bad links and
        # report them; the sanitizer removes them from the output in any case.
        self.md.validateLink = lambda url: True  # type: ignore[method-assign]
        self.typo = typographer(locale)
        self.french = locale.split("_")[0].lower() == "fr"
        self.text_width = text_width
        self.max_chars = max_chars

    def convert(self, source: str, *, path: Path, first_line: int, slots: MergeSlots) -> Fragment:
        """Convert ``source`` (which starts at ``first_line`` of ``path``).

        Merge fields become placeholders from ``slots``: HTML-context ones in ``html`` and
        text-context ones in ``text``.
        """
        problems: list[Problem] = []
        if len(source) > self.max_chars:
            # Far over any word limit; parsing it would only cost time (Markdown parsing is
            # quadratic on some inputs), so report it and show it as plain text.
            problems.append(Problem(path, first_line, N_("the text has %(count)s characters; an item is a few "
                                                         "sentences (at most %(limit)s characters), shorten it"),
                                    values={"count": f"{len(source):,}", "limit": f"{self.max_chars:,}"}))
            shown = source[: self.max_chars]
            return Fragment(f"<p>{escape(shown)}</p>", shown, count_words(source), problems)
        source_lines = source.split("\n")

        def line_of(offset: int) -> int:
            return first_line + source.count("\n", 0, offset)

        reserved = [word for word in RESERVED if word in source]
        if reserved:
            problems.append(
                Problem(path, line_of(min(source.find(word) for word in reserved)),
                        N_("the words %(words)s are reserved by the merge system; rephrase"),
                        values={"words": "/".join(RESERVED)})
            )
            for word in reserved:
                source = source.replace(word, word[:2] + "-" + word[2:])

        uses = find_fields(source)
        pieces, pos = [], 0
        for n, use in enumerate(uses):
            if use.why is not None:
                problems.append(Problem(path, line_of(use.start), use.why.template, values=use.why.values))
            pieces.append(source[pos : use.start])
            pieces.append(f"{_FIELD_MARK}{n}Q")
            pos = use.end
        pieces.append(source[pos:])
        marked = "".join(pieces)

        tokens = self.md.parse(marked)
        self._inspect(tokens, path, first_line, source_lines, problems)

        html = self.md.renderer.render(tokens, self.md.options, {})
        import nh3

        html = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"})
        text = _PlainText(self.text_width).render(tokens)
        words = count_words(_FIELD_MARK_RE.sub("", text))

        def to_slot(context: Context) -> Callable[[re.Match[str]], str]:
            def sub(m: re.Match[str]) -> str:
                use = uses[int(m.group(1))]
                if use.error:
                    return ""
                return slots.token(use.field, context, self.typo(use.default))

            return sub

        return Fragment(
            html=_FIELD_MARK_RE.sub(to_slot(Context.HTML), html).strip(),
            text=_FIELD_MARK_RE.sub(to_slot(Context.TEXT), text).strip(),
            words=words,
            problems=problems,
        )

    def _inspect(
        self, tokens: Sequence[Token], path: Path, first_line: int, source_lines: list[str], problems: list[Problem]
    ) -> None:
        """Check links, images, raw HTML and headings; apply typography to text nodes."""
        block_line = first_line

        def find_line(needle: str) -> int:
            start = block_line - first_line
            for i in range(start, len(source_lines)):
                if needle and needle in source_lines[i]:
                    return first_line + i
            return block_line

        warned_html: set[int] = set()

        def raw_html(line: int) -> None:
            if line not in warned_html:
                warned_html.add(line)
                problems.append(
                    Problem(path, line, N_("raw HTML is not allowed and was removed; use Markdown instead "
                                           "(**gras**, *italique*, [lien](https://…))"), "warning")
                )

        for token in tokens:
            if token.map:
                block_line = first_line + token.map[0]
            if token.type == "html_block":
                raw_html(block_line)
                token.content = ""
            elif token.type == "heading_open":
                problems.append(
                    Problem(path, block_line, N_("headings are not used inside an item (its title is the heading); "
                                                 "the line is shown as plain text"), "warning")
                )
            if token.type != "inline" or not token.children:
                continue
            children = token.children
            self._broken_links(children, find_line, problems, path)
            if self.french:
                _pair_quotes(children)
            before = ""  # the character that precedes the current text node, for rules such as " :"
            inside = ""  # a pasted <script> or <style> whose content must go with its tags
            for i, child in enumerate(children):
                if inside and child.type != "html_inline":
                    child.content = ""
                    continue
                if child.type == "text":
                    prefix = before if before and not before.isspace() else ""
                    # The prefix's own rewriting (a closing » gains its space) is cut off with it.
                    child.content = self.typo(prefix + child.content)[len(self.typo(prefix)):]
                if child.type in ("text", "code_inline"):
                    before = child.content[-1:] or before
                if child.type == "html_inline":
                    raw_html(find_line(child.content))
                    tag = _SCRIPT_TAG.match(child.content)
                    if tag and not tag.group(1) and not inside:
                        inside = tag.group(2).lower()
                    elif tag and tag.group(1) and tag.group(2).lower() == inside:
                        inside = ""
                    child.content = ""
                elif child.type == "image":
                    problems.append(
                        Problem(path, find_line(str(child.attrGet("src") or "")), N_(
                            "images inside the text are not supported; use the front matter fields image: and "
                            "image_alt:"))
                    )
                elif child.type == "link_open":
                    href = str(child.attrGet("href") or "")
                    if _FIELD_MARK in href:
                        problems.append(Problem(path, find_line("{{"), N_("merge fields can be used in text, not "
                                                                          "inside a link")))
                    elif not is_safe_link(href) and _NO_SCHEME.match(href):
                        problems.append(Problem(path, find_line(href), N_(
                            "link %(link)s has no https:// in front; write (https://%(link_text)s)"),
                            values={"link": Quoted(href[:60]), "link_text": href}))
                    elif not is_safe_link(href):
                        problems.append(Problem(path, find_line(href), N_(
                            "link %(link)s is not allowed: links must be complete http:// or https:// addresses, or "
                            "mailto: followed by a valid e-mail address"), values={"link": Quoted(href[:60])}))
                    else:
                        continue
                    _drop_link(children, i)


    @staticmethod
    def _broken_links(children: list[Token], find_line: Callable[[str], int], problems: list[Problem],
                      path: Path) -> None:
        """Link syntax Markdown did not take as a link (a space in the address, ``] (``, a missing ``)``…)."""
        runs, run = [], ""
        for child in children:
            if child.type == "text":
                run += child.content
            else:
                runs.append(run)
                run = ""
        runs.append(run)
        for text in runs:
            for pattern, template in _BROKEN_LINKS:
                for m in pattern.finditer(text):
                    typed = m.group(0)
                    problems.append(Problem(path, find_line(typed[:20]), template,
                                            values={"link": Quoted(typed[:80])}))


def _pair_quotes(children: list[Token]) -> None:
    """Pair the straight double quotes of a paragraph's text nodes (``"Big **Data**"`` spans three)."""
    from newsletter.content.typography import pair_quotes

    stand_in = {"code_inline": "x", "softbreak": " ", "hardbreak": " "}
    texts = [child for child in children if child.type == "text"]
    if not any('"' in child.content for child in texts):
        return
    pieces = [child.content if child.type == "text" else stand_in.get(child.type, "") for child in children]
    for child, paired in zip(children, pair_quotes(pieces)):
        if child.type == "text":
            child.content = paired


#: The opening or closing tag of an element whose content is code, not text.
_SCRIPT_TAG = re.compile(r"<(/?)(script|style)\b", re.IGNORECASE)


def _drop_link(children: list[Token], index: int) -> None:
    """Hide a link's opening and closing tokens so that only its text remains."""
    children[index].hidden = True
    depth = 0
    for child in children[index + 1 :]:
        if child.type == "link_open":
            depth += 1
        elif child.type == "link_close":
            if depth == 0:
                child.hidden = True
                return
            depth -= 1


class _PlainText:
    """Renders markdown-it tokens as wrapped plain text, links written out in parentheses."""

    def __init__(self, width: int) -> None:
        self.width = width

    def render(self, tokens: Sequence[Token]) -> str:
        out: list[str] = []
        prefixes: list[str] = []  # one entry per open container (list item, blockquote)
        lists: list[list[int]] = []  # [next number (0 for bullets), items emitted] per open list
        marker = ""

        def emit(block: str, *, tight: bool = False) -> None:
            out.append(("\n" if tight else "\n\n") if out else "")
            out.append(block)

        for token in tokens:
            t = token.type
            if t == "bullet_list_open":
                lists.append([0, 0])
            elif t == "ordered_list_open":
                lists.append([int(str(token.attrGet("start") or 1)), 0])
            elif t in ("bullet_list_close", "ordered_list_close"):
                lists.pop()
            elif t == "list_item_open":
                number = lists[-1][0]
                marker = f"{number}. " if number else "- "
                if number:
                    lists[-1][0] += 1
                prefixes.append(" " * len(marker))
            elif t == "list_item_close":
                prefixes.pop()
            elif t == "blockquote_open":
                prefixes.append("> ")
            elif t == "blockquote_close":
                prefixes.pop()
            elif t == "inline":
                # Items of one list sit on consecutive lines; other blocks are paragraphs.
                tight = bool(marker) and lists[-1][1] > 0
                if marker:
                    lists[-1][1] += 1
                emit(self._wrap(self._inline(token.children or []), prefixes, marker), tight=tight)
                marker = ""
            elif t in ("fence", "code_block"):
                indent = "".join(prefixes) + "    "
                emit("\n".join(indent + line for line in token.content.rstrip("\n").split("\n")))
            elif t == "hr":
                emit("".join(prefixes) + "----")
        return "".join(out)

    def _inline(self, children: Sequence[Token]) -> str:
        parts: list[str] = []
        link: list[str] | None = None
        href = ""
        for child in children:
            t = child.type
            if t == "text" or t == "code_inline":
                (link if link is not None else parts).append(child.content)
            elif t == "softbreak":
                (link if link is not None else parts).append(" ")
            elif t == "hardbreak":
                parts.append("\n")
            elif t == "image":
                parts.append(child.content)
            elif t == "link_open" and not child.hidden:
                href = str(child.attrGet("href") or "")
                href = mailto_address(href) or href  # the text part shows the address itself
                link = []
            elif t == "link_close" and link is not None and not child.hidden:
                label = "".join(link)
                if href and label.strip() != href:
                    parts.append(f"{label} ({href})")
                else:
                    parts.append(href or label)
                link = None
        return "".join(parts)

    def _wrap(self, text: str, prefixes: list[str], marker: str) -> str:
        indent = "".join(prefixes)
        first = indent[: len(indent) - len(marker)] + marker if marker else indent
        lines = []
        for i, paragraph in enumerate(text.split("\n")):
            lines.append(
                textwrap.fill(
                    paragraph,
                    width=max(self.width, len(indent) + 20),
                    initial_indent=first if i == 0 else indent,
                    subsequent_indent=indent,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
        return "\n".join(lines)
