"""Read an issue folder into an :class:`Issue`, collecting every problem instead of stopping at the first.

A broken file still yields as much as can be read (empty strings for what is missing), so
that ``check`` can report all problems at once and ``preview`` can still show the rest. A file
that is a symbolic link is never read (:func:`newsletter.core.atomic.read_inside`): it is a problem.
"""

from __future__ import annotations

import difflib
import errno
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from newsletter.content.markdown import is_safe_url
from newsletter.content.model import Issue, Item
from newsletter.content.problems import N_, Problem
from newsletter.errors import IssueNotFoundError
from newsletter.core.atomic import read_inside

ISSUE_FILE = "issue.yaml"
ITEM_NAME = re.compile(r"^(\d{1,3})-[^/\\]+\.md$", re.IGNORECASE)  # 05-titre.MD too (Windows)
#: An item is a few hundred words; anything this big is a mistake (or hostile).
MAX_FILE_BYTES = 256 * 1024

ITEM_KEYS = ("title", "source", "url", "image", "image_alt", "tag", "weekly")
#: Keys ``draft --from`` writes besides the item's fields: the page's own description, which ``check``
#: compares the text with until the editor has rewritten it.
DRAFT_KEYS = ("description",)
ISSUE_KEYS = ("subject", "preheader", "intro")
#: What ``check`` says of every symbolic link in an issue folder (:func:`newsletter.content.publication.symlink_problems`).
LINK_PROBLEM = N_("is a symbolic link, which is never built, sent or published; replace it by a copy of the file itself")


@dataclass
class LoadedIssue:
    """The result of :func:`load_issue`: the issue and what was wrong while reading it."""

    issue: Issue
    problems: list[Problem]


def issue_folder(issues_dir: Path, day: date) -> Path:
    return issues_dir / day.isoformat()


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    try:
        raw = read_inside(path.parent, path.name)
    except OSError as err:
        if err.errno == errno.ELOOP:
            problems.append(Problem(path, None, LINK_PROBLEM))
            return None
        problems.append(Problem(path, None, N_("cannot read the file: %(reason)s"), values={"reason": err.strerror}))
        return None
    if len(raw) > MAX_FILE_BYTES:
        problems.append(
            Problem(path, None, N_("the file is %(size)d KB; an item file must stay under %(limit)d KB"),
                    values={"size": len(raw) // 1024, "limit": MAX_FILE_BYTES // 1024})
        )
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        problems.append(
            Problem(path, line, N_("the file is not UTF-8 text; save it with UTF-8 encoding in your editor"))
        )
        return None
    if "\x00" in text:
        problems.append(Problem(path, None, N_("the file contains NUL bytes; is it really a text file?")))
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


_QUOTED_LINE = re.compile(r"""^(\s*[\w-]+:\s*)(["'])(.*)\2\s*$""")


def _quoting_advice(line: str) -> tuple[str, dict[str, str]] | None:
    """The fix for ``key: "text with "quotes" inside"`` (or ``'l'État'``): the quote that opens the
    value also stands inside it and ends it early. ``None`` for any other line."""
    m = _QUOTED_LINE.match(line)
    if m is None or m.group(2) not in m.group(3):
        return None
    start, quote, inner = m.groups()
    if quote == "'":
        fixed = start + '"' + inner.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return (N_("the text between single quotes holds an apostrophe, which ends it early; put it between double "
                   "quotes instead: %(fixed)s"), {"fixed": fixed.strip()})
    parts = inner.split('"')
    if len(parts) % 2:  # pairs of inner quotes: « »
        fixed = start + '"' + "".join(part + ("« " if n % 2 == 0 else " »") if n < len(parts) - 1 else part
                                      for n, part in enumerate(parts)) + '"'
    else:
        fixed = start + '"' + inner.replace('"', '\\"') + '"'
    return (N_("the text between double quotes holds double quotes itself, which end it early; write the inner ones "
               "as « » or \\\", or put the text between single quotes: %(fixed)s"), {"fixed": fixed.strip()})


#: ``key: text`` with the text not between quotes (the line of ``title: Data Marketing: le sexe des ados``).
_PLAIN_LINE = re.compile(r"""^\s*([\w-]+):\s+([^\s"'].*)$""")
_MARKED_LINE = re.compile(r"""^(\s*[\w-]+:\s*)([\[{@`%*&!|>]).*$""")


def _marked_advice(line: str) -> tuple[str, dict[str, str]] | None:
    """The fix for ``key: [text`` or ``key: @text``: a plain value that starts with a character YAML reads as
    its own syntax (a list, a mapping, an alias…). ``None`` for any other line."""
    m = _MARKED_LINE.match(line)
    if m is None:
        return None
    value = line[m.end(1):].rstrip()
    return (N_("YAML reads a text that starts with '%(character)s' as its own syntax; put the text between double "
               "quotes: %(fixed)s"), {"character": m.group(2),
                                      "fixed": m.group(1).strip() + " " + json.dumps(value, ensure_ascii=False)})


def _parse_mapping(
    path: Path, text: str, first_line: int, known: tuple[str, ...], problems: list[Problem]
) -> tuple[dict[str, str], dict[str, int], dict[str, str]] | None:
    """Parse YAML ``text`` (starting at ``first_line`` in ``path``) as a flat mapping of text values.

    :return: values, the line of each key, and each value's style (``|``, ``>``, quote or plain);
        ``None`` when the text is not a readable mapping at all (the problem is reported once,
        and the caller reports nothing about the keys it could not see).
    """
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    styles: dict[str, str] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = first_line + mark.line if mark else first_line
        reason = err.problem or "invalid YAML"
        source_line = text.split("\n")[mark.line] if mark and mark.line <= text.count("\n") else ""
        quoted = _quoting_advice(source_line)
        # `source: [Kantar TNS` fails on a later line: the line that opened the list is the one to fix
        context = err.context_mark if (err.context or "").startswith("while parsing a flow") else None
        opened = _marked_advice(text.split("\n")[context.line]) if context and context.line <= text.count("\n") \
            else None
        marked = opened or _marked_advice(source_line)
        if marked is not None:
            at = first_line + context.line if opened and context else line
            problems.append(Problem(path, at, marked[0], values=marked[1]))
        elif quoted is not None:
            problems.append(Problem(path, line, quoted[0], values=quoted[1]))
        elif '"' in source_line:
            problems.append(
                Problem(path, line, N_("invalid YAML: %(reason)s; text that holds double quotes goes between single "
                                       "quotes, or write its quotes as « »"), values={"reason": reason})
            )
        elif err.problem == "mapping values are not allowed here" and (plain := _PLAIN_LINE.match(source_line)) \
                and ": " in plain.group(2):
            fixed = f"{plain.group(1)}: {json.dumps(plain.group(2).strip(), ensure_ascii=False)}"
            problems.append(Problem(path, line, N_('YAML reads ": " (a colon and a space) as the start of a new key; '
                                                   'put the text between double quotes: %(fixed)s'),
                                    values={"fixed": fixed}))
        else:
            problems.append(
                Problem(path, line, N_('invalid YAML: %(reason)s; check the quotes and the indentation '
                                       '(put text containing ": " or "#" between double quotes)'),
                        values={"reason": reason})
            )
        return None
    except RecursionError:
        problems.append(Problem(path, first_line, N_("the YAML is nested too deeply; write plain key: value lines")))
        return None
    except yaml.YAMLError as err:
        problems.append(Problem(path, first_line, N_("invalid YAML: %(reason)s"), values={"reason": str(err)}))
        return None
    if node is None:
        return values, lines, styles
    if not isinstance(node, yaml.MappingNode):
        problems.append(
            Problem(path, first_line + node.start_mark.line, N_('expected "key: value" lines, e.g. title: "…"'))
        )
        return None
    for key_node, value_node in node.value:
        line = first_line + key_node.start_mark.line
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(Problem(path, line, N_("a key must be a plain word such as title")))
            continue
        key = str(key_node.value)
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            if close:
                problems.append(Problem(path, line, N_("unknown key '%(key)s' is ignored; did you mean '%(close)s'?"),
                                        "warning", values={"key": key, "close": close[0]}))
            else:
                problems.append(Problem(path, line, N_("unknown key '%(key)s' is ignored; known keys: %(known)s"),
                                        "warning", values={"key": key, "known": ", ".join(known)}))
            continue
        if key in values:
            problems.append(Problem(path, line, N_("'%(key)s' is given twice; keep one"), values={"key": key}))
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            problems.append(Problem(path, line, N_("'%(key)s' must be text, not a list or a mapping"), values={"key": key}))
            lines[key] = line  # seen and reported: not "missing" as well
            continue
        # The scalar's source text, never a constructed object: `title: 2018` stays "2018"
        # and `tag: yes` stays "yes".
        values[key] = str(value_node.value)
        _warn_if_read_in_part(path, line, key, value_node, text.split("\n")[key_node.start_mark.line]
                              [key_node.end_mark.column:], problems)
        lines[key] = line
        styles[key] = value_node.style or ""
    return values, lines, styles


def _warn_if_read_in_part(path: Path, line: int, key: str, node: yaml.ScalarNode, after_key: str,
                          problems: list[Problem]) -> None:
    """A plain one-line value of which YAML kept only a part: ``title: Les tendances #DM1to1`` (a comment),
    ``source: &Kantar TNS`` (an anchor), ``tag: !Important`` (a tag); the words it dropped would be lost."""
    if node.style or node.start_mark.line != node.end_mark.line:
        return
    typed = after_key.lstrip().removeprefix(":").strip()
    if not typed or typed == node.value:
        return
    fixed = f"{key}: {json.dumps(typed, ensure_ascii=False)}"
    if not node.value:
        problems.append(Problem(path, line, N_("nothing is read from this line: YAML takes # for the start of a "
                                               "comment, & and ! for its own marks; if it all belongs to the text, put it "
                                               "between double quotes: %(fixed)s"), "warning", values={"fixed": fixed}))
        return
    problems.append(Problem(path, line, N_("only '%(kept)s' is read from this line: YAML takes # for the start of a "
                                           "comment, & and ! for its own marks; if the rest belongs to the text, put it "
                                           "all between double quotes: %(fixed)s"), "warning",
                            values={"kept": node.value, "fixed": fixed}))


def _split_front_matter(path: Path, text: str, problems: list[Problem]) -> tuple[str, int, str, int] | None:
    """Split an item file into (front matter, its first line, body, its first line)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        problems.append(
            Problem(path, 1, N_("an item starts with a front matter: a line '---', the fields "
                                "(title, source, …), then another line '---'"))
        )
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "\n".join(lines[1:i]), 2, "\n".join(lines[i + 1 :]), i + 2
    problems.append(Problem(path, 1, N_("the front matter is not closed; add a line '---' after the fields")))
    return None


def _required(path: Path, values: dict[str, str], lines: dict[str, int], key: str, problems: list[Problem],
              example: str) -> str:
    value = values.get(key, "").strip()
    if not value and not (key in lines and key not in values):  # a non-text value was reported already
        where = lines.get(key, 1)
        problems.append(Problem(path, where, N_("'%(key)s' is required, e.g. %(key)s: \"%(example)s\""),
                                values={"key": key, "example": example}, field=key, said=N_("'%(key)s' is required")))
    return value


def load_item(path: Path, number: int, problems: list[Problem]) -> Item:
    """Read one item file. Problems are appended to ``problems``; the item is always returned."""
    text = _read_text(path, problems)
    parts = _split_front_matter(path, text, problems) if text is not None else None
    if parts is None:
        return Item(path=path, number=number, title="", source="", body="", body_line=1)
    front, front_line, body, body_line = parts
    parsed = _parse_mapping(path, front, front_line, (*ITEM_KEYS, *DRAFT_KEYS), problems)
    values, lines, _ = parsed or ({}, {}, {})
    if parsed is None:
        # The YAML error is the one problem: the keys it hides are not "missing".
        title, source = "", ""
    else:
        title = _required(path, values, lines, "title", problems, "Le consommateur français résiste au numérique")
        source = _required(path, values, lines, "source", problems, "Kantar TNS, Connected Life")
    image = values.get("image", "").strip()
    image_alt = values.get("image_alt", "").strip()
    if image and not image_alt:
        problems.append(
            Problem(path, lines.get("image", 1), N_("an image needs 'image_alt': a short description of what it shows"),
                    field="image_alt", said=N_("an image needs a description (alt text) for readers who do not see it"))
        )
    weekly = values.get("weekly", "").strip().lower()
    if weekly not in ("", "true", "false"):
        problems.append(Problem(path, lines.get("weekly", 1), N_("'weekly' is true or false (true: this item goes "
                                                                 "into the weekly roundup)")))
    if not body.strip():
        problems.append(Problem(path, body_line, N_("the item has no text after the front matter"), field="body"))
    return Item(
        path=path,
        number=number,
        title=title,
        source=source,
        body=body,
        body_line=body_line,
        url=values.get("url", "").strip(),
        image=image,
        image_alt=image_alt,
        tag=values.get("tag", "").strip(),
        description=values.get("description", "").strip(),
        weekly=weekly == "true",
        lines=lines,
    )


def _item_files(folder: Path, problems: list[Problem]) -> list[tuple[int, Path]]:
    """The item files in numeric order; every misnamed or duplicated file is reported by name."""
    found: dict[int, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".md" or not path.is_file():
            continue
        m = ITEM_NAME.match(path.name)
        if not m:
            problems.append(
                Problem(path, None, N_("item files are named with their position first, e.g. 01-titre-court.md; "
                                       "rename this file"))
            )
            continue
        found.setdefault(int(m.group(1)), []).append(path)
    for number, paths in found.items():
        if len(paths) > 1:
            for path in paths:
                others = ", ".join(p.name for p in paths if p != path)
                template = N_("two items have the number %(number)02d (this file and %(others)s); renumber one") \
                    if len(paths) == 2 else N_("%(count)d items have the number %(number)02d (this file and "
                                               "%(others)s); renumber one")
                problems.append(Problem(path, None, template,
                                        values={"count": len(paths), "number": number, "others": others}))
    # The first file of a duplicated number is still read, so that its own problems show too.
    return sorted((number, paths[0]) for number, paths in found.items())


def image_files(folder: Path) -> list[str]:
    """The image files of the issue folder its items name (``image: images/chart.png``, as written),
    whatever their names: what the render reads besides ``issue.yaml`` and the items."""
    problems: list[Problem] = []
    named = (load_item(path, number, problems).image for number, path in _item_files(folder, problems))
    return [image for image in named if image and not is_safe_url(image)]


def load_issue(issues_dir: Path, day: date, items_per_issue: int) -> LoadedIssue:
    """Read ``issues_dir/DATE``: ``issue.yaml`` and every ``NN-*.md`` item, in numeric order.

    :raises IssueNotFoundError: when the folder does not exist.
    """
    folder = issue_folder(issues_dir, day)
    if not folder.is_dir():
        raise IssueNotFoundError(N_("no issue for %(day)s: %(folder)s does not exist"),
                                 hint=N_("create it with `newsletter new %(day)s`"),
                                 values={"day": day.isoformat(), "folder": folder})
    problems: list[Problem] = []
    meta_path = folder / ISSUE_FILE
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    styles: dict[str, str] = {}
    if meta_path.is_file():
        text = _read_text(meta_path, problems)
        parsed = _parse_mapping(meta_path, text, 1, ISSUE_KEYS, problems) if text is not None else None
        if parsed is not None:
            values, lines, styles = parsed
            _required(meta_path, values, lines, "subject", problems, "Le consommateur français résiste au numérique")
            _required(meta_path, values, lines, "preheader", problems, "Bots, paiement mobile : les chiffres.")
    else:
        problems.append(
            Problem(meta_path, None, N_("issue.yaml is missing; create it with subject and preheader "
                                        "(`newsletter new` writes a template)"))
        )
    intro_line = lines.get("intro", 1) + (1 if styles.get("intro") in ("|", ">") else 0)

    items = tuple(load_item(path, number, problems) for number, path in _item_files(folder, problems))
    if len(items) < items_per_issue:
        problems.append(
            Problem(folder, None, N_("an issue has %(expected)d items; this one has %(count)d (add the missing "
                                     "ones, e.g. with `newsletter new`)"),
                    values={"expected": items_per_issue, "count": len(items)})
        )
    for position, item in enumerate(items[items_per_issue:], start=items_per_issue + 1):
        problems.append(
            Problem(item.path, None, N_("an issue has %(expected)d items and this file is item %(position)d of "
                                        "%(count)d; remove it or merge it into another item"),
                    values={"expected": items_per_issue, "position": position, "count": len(items)})
        )
    issue = Issue(
        date=day,
        folder=folder,
        subject=values.get("subject", "").strip(),
        preheader=values.get("preheader", "").strip(),
        intro=values.get("intro", "").strip("\n"),
        intro_line=intro_line,
        items=items,
        lines=lines,
    )
    return LoadedIssue(issue, problems)
