"""Every rule of `newsletter check`, each proven with a broken file: the problem names file and line."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import pytest

from newsletter.config import load_settings
from newsletter.services.check import CheckReport, check_issue
from newsletter.content.problems import errors
from newsletter.content.stubs import STUB_PLACEHOLDERS
from newsletter.services.scaffold import _ITEM_STUB, new_issue
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber, unsubscribe
from tests.conftest import DAY, FIXTURES, item_text, write
from tests.helpers.config import set_options

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)

Mutation = Callable[[Path], None]


def _replace(name: str, old: str, new: str) -> Mutation:
    def mutate(folder: Path) -> None:
        path = folder / name
        text = path.read_text(encoding="utf-8")
        assert old in text, f"fixture {name} lacks {old!r}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return mutate


def _write(name: str, text: str) -> Mutation:
    return lambda folder: write(folder / name, text) and None


def _delete(name: str) -> Mutation:
    return lambda folder: (folder / name).unlink()


def _write_bytes(name: str, data: bytes) -> Mutation:
    return lambda folder: (folder / name).write_bytes(data) and None


def _symlink(name: str, target: str) -> Mutation:
    def mutate(folder: Path) -> None:
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to(target)

    return mutate


LONG_BODY = " ".join(["mot"] * 121)

CASES: list[tuple[str, Mutation, str, str]] = [
    ("item count", _delete("05-pwc.md"), "issues/2026-11-24", "an issue has 5 items; this one has 4"),
    ("too many items", _write("06-extra.md", item_text()), "issues/2026-11-24/06-extra.md",
     "an issue has 5 items and this file is item 6 of 6"),
    ("missing title", _replace("02-mobile.md", 'title: "Payer avec son mobile ? Non merci"\n', ""),
     "02-mobile.md:1", "'title' is required"),
    ("empty source", _replace("02-mobile.md", 'source: "Kantar TNS, Connected Life"', 'source: ""'),
     "02-mobile.md:3", "'source' is required"),
    ("body over word limit", _write("02-mobile.md", item_text(body=LONG_BODY)), "02-mobile.md:5",
     "121 words; keep it to 120"),
    ("title over limit", _write("02-mobile.md", item_text(title="T" * 101)), "02-mobile.md:2",
     "101 characters; keep it to 100"),
    ("subject over 78", _replace("issue.yaml", "résiste au numérique", "résiste au numérique" + "!" * 40),
     "issue.yaml:1", "keep it to 78"),
    ("preheader over 110", _replace("issue.yaml", "qui freinent.", "qui freinent." + " encore" * 8),
     "issue.yaml:2", "keep it to 110"),
    ("javascript link", _write("02-mobile.md", item_text(body="Un texte.\n\nVoir [ici](javascript:alert(1)).")),
     "02-mobile.md:7", "'javascript:alert(1)' is not allowed"),
    ("data link", _write("02-mobile.md", item_text(body="Voir [ici](data:text/html;base64,PHNjcmlwdD4=).")),
     "02-mobile.md:5", "'data:text/html;base64,PHNjcmlwdD4=' is not allowed"),
    ("file link", _write("02-mobile.md", item_text(body="Voir <file:///etc/passwd>.")),
     "02-mobile.md:5", "'file:///etc/passwd' is not allowed"),
    ("relative link", _write("02-mobile.md", item_text(body="Voir [ici](/etude).")),
     "02-mobile.md:5", "links must be complete http:// or https:// addresses"),
    ("url field scheme", _write("02-mobile.md", item_text(url="javascript:alert(1)")),
     "02-mobile.md:4", "url 'javascript:alert(1)' must be a complete http:// or https:// address"),
    ("image without alt", _replace("01-bots.md", 'image_alt: "Graphique en barres : 46 % refusent les bots"\n', ""),
     "01-bots.md:5", "an image needs 'image_alt'"),
    ("image over plain http", _replace("01-bots.md", "images/barres.png", "http://cdn.example.org/barres.png"),
     "01-bots.md:5", "image 'http://cdn.example.org/barres.png': use https://"),
    ("image over plain HTTP", _replace("01-bots.md", "images/barres.png", "HTTP://cdn.example.org/barres.png"),
     "01-bots.md:5", "use https://"),
    ("image file missing", _replace("01-bots.md", "images/barres.png", "images/absent.png"),
     "01-bots.md:5", "image file 'images/absent.png' does not exist"),
    ("image outside folder", _replace("01-bots.md", "images/barres.png", "../../../etc/hostname"),
     "01-bots.md:5", "is outside the issue folder"),
    ("link to the subscriber database", _symlink("images/db.png", "../../../state/newsletter.db"),
     "images/db.png", "is a symbolic link"),
    ("link to /etc/passwd", _symlink("images/passwd.png", "/etc/passwd"), "images/passwd.png", "is a symbolic link"),
    ("image used is a link", _symlink("images/barres.png", "autre.png"), "images/barres.png", "is a symbolic link"),
    ("image that is not an image", _write_bytes("images/barres.png", b"SQLite format 3\x00" + bytes(200)),
     "01-bots.md:5", "is not a PNG, JPEG or GIF image"),
    ("image in body", _write("02-mobile.md", item_text(body="Voir ![x](https://www.example.org/x.png).")),
     "02-mobile.md:5", "images inside the text are not supported"),
    ("unknown merge field in body", _write("02-mobile.md", item_text(body="Bonjour\n{{ prenom }} !")),
     "02-mobile.md:6", "unknown merge field {{ prenom }}"),
    ("unknown merge field in intro", _replace("issue.yaml", "voici vos", "{{ ville }} voici vos"),
     "issue.yaml:4", "unknown merge field {{ ville }}"),
    ("malformed merge field", _write("02-mobile.md", item_text(body="Bonjour {{ first_name | upper }}")),
     "02-mobile.md:5", "is not understood"),
    ("merge field in a link", _write("02-mobile.md", item_text(body="[ici](https://x.example.org/?n={{ email }})")),
     "02-mobile.md:5", "merge fields can be used in text, not inside a link"),
    ("merge field in subject", _replace("issue.yaml", 'subject: "Le', 'subject: "{{ first_name }}, le'),
     "issue.yaml:1", "merge fields cannot be used in the subject"),
    ("broken YAML in item", _replace("02-mobile.md", 'tag: "Paiement"', 'tag: "Paiement'),
     "02-mobile.md:", "invalid YAML"),
    ("broken YAML in issue.yaml", _replace("issue.yaml", "preheader:", "preheader: : ["),
     "issue.yaml:2", "invalid YAML"),
    ("double quotes inside double quotes", _replace("02-mobile.md", 'tag: "Paiement"', 'tag: "Le "Big Data" : 3 V"'),
     "02-mobile.md:4", 'write the inner ones as « » or \\", or put the text between single quotes: '
     'tag: "Le « Big Data » : 3 V"'),
    ("one double quote inside double quotes", _replace("02-mobile.md", 'tag: "Paiement"', 'tag: "12" d\'écran"'),
     "02-mobile.md:4", 'tag: "12\\" d\'écran"'),
    ("apostrophe inside single quotes", _replace("02-mobile.md", 'tag: "Paiement"', "tag: 'l'État'"),
     "02-mobile.md:4", "put it between double quotes instead: tag: \"l'État\""),
    ("double quotes in plain text", _replace("02-mobile.md", 'tag: "Paiement"', 'tag: Le "Big Data": 3 V'),
     "02-mobile.md:4", "text that holds double quotes goes between single quotes, or write its quotes as « »"),
    ("text that starts with [", _replace("02-mobile.md", 'tag: "Paiement"', "tag: [Paiement mobile"),
     "02-mobile.md:4", "YAML reads a text that starts with '[' as its own syntax; put the text between double quotes: "
     'tag: "[Paiement mobile"'),
    ("colon and space in plain text", _replace("02-mobile.md", 'tag: "Paiement"', "tag: Paiement: non merci"),
     "02-mobile.md:4", 'YAML reads ": " (a colon and a space) as the start of a new key; put the text between double '
     'quotes: tag: "Paiement: non merci"'),
    ("text that starts with @", _replace("02-mobile.md", 'tag: "Paiement"', "tag: @Paiement"),
     "02-mobile.md:4", 'put the text between double quotes: tag: "@Paiement"'),
    ("space in a link address", _write("02-mobile.md", item_text(body="Un texte.\n\nVoir [un autre](https://exa mple.org).")),
     "02-mobile.md:7", "'[un autre](https://exa mple.org)' is shown as typed, not as a link: its address holds a space"),
    ("space between ] and (", _write("02-mobile.md", item_text(body="Voir [ici] (https://example.org).")),
     "02-mobile.md:5", "remove the space between ] and ("),
    ("link not closed", _write("02-mobile.md", item_text(body="Voir [ici](https://example.org")),
     "02-mobile.md:5", "add the ) that closes the address"),
    ("link written backwards", _write("02-mobile.md", item_text(body="Voir (https://example.org)[ici].")),
     "02-mobile.md:5", "write the text first, then the address"),
    ("autolink with a space", _write("02-mobile.md", item_text(body="Voir <https://exa mple.org>.")),
     "02-mobile.md:5", "its address holds a space"),
    ("link without a scheme", _write("02-mobile.md", item_text(body="Voir [ici](www.example.org/etude).")),
     "02-mobile.md:5", "link 'www.example.org/etude' has no https:// in front; write (https://www.example.org/etude)"),
    ("link to a host with a space", _write("02-mobile.md", item_text(body="Voir [ici](<https://exa mple.org>).")),
     "02-mobile.md:5", "links must be complete http:// or https:// addresses"),
    ("front matter not closed", _write("02-mobile.md", '---\ntitle: "x"\nsource: "y"\nUn texte.\n'),
     "02-mobile.md:1", "the front matter is not closed"),
    ("no front matter", _write("02-mobile.md", "Juste du texte.\n"), "02-mobile.md:1", "an item starts with a front matter"),
    ("not UTF-8", _write_bytes("02-mobile.md", item_text(title="Caf\xe9").encode("cp1252")),
     "02-mobile.md:2", "not UTF-8"),
    ("bad file name", _write("notes.md", item_text()), "notes.md", "item files are named with their position first"),
    ("duplicate number", _write("02-autre.md", item_text()), "02-mobile.md", "two items have the number 02"),
    ("missing issue.yaml", _delete("issue.yaml"), "issue.yaml", "issue.yaml is missing"),
    ("CRLF in subject", _replace("issue.yaml", 'subject: "Le consommateur', 'subject: "Bcc: x@evil.example\\r\\nLe'),
     "issue.yaml:1", "contains a line break"),
    ("empty body", _write("02-mobile.md", '---\ntitle: "x"\nsource: "y"\n---\n\n'), "02-mobile.md:5", "has no text"),
    ("pathological Markdown is not parsed", _write("02-mobile.md", item_text(body="*_[" * 40_000)),
     "02-mobile.md:5", "the text has 120,001 characters"),
    ("YAML nested too deeply", _write("02-mobile.md", "---\ntitle: " + "[" * 20_000 + "\n---\nx\n"),
     "02-mobile.md:2", "nested too deeply"),
    ("list value", _replace("02-mobile.md", 'tag: "Paiement"', "tag: [a, b]"), "02-mobile.md:4", "must be text"),
    ("duplicate key", _replace("02-mobile.md", 'tag: "Paiement"', 'tag: "a"\ntag: "b"'), "02-mobile.md:5", "given twice"),
]


@pytest.mark.parametrize(("mutate", "location", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_names_file_and_line(project: Path, issue_dir: Path, mutate: Mutation, location: str,
                                       fragment: str) -> None:
    mutate(issue_dir)
    report = check_issue(load_settings(project), DAY)
    lines = [p.format(project) for p in errors(report.problems)]
    assert any(location in line and fragment in line for line in lines), "\n".join(lines)
    assert not report.ok


@pytest.mark.parametrize("name", ["02-mobile.md", "issue.yaml"])
def test_an_item_or_issue_yaml_that_is_a_link_is_never_read_and_reported_once(project: Path, issue_dir: Path,
                                                                               name: str) -> None:
    secret = project / "state" / "secret.md"
    secret.parent.mkdir()
    secret.write_text(item_text(title="SECRET-TITLE", body="SECRET-BODY") if name != "issue.yaml"
                      else 'subject: "SECRET-TITLE"\npreheader: "SECRET-BODY"\n', encoding="utf-8")
    _symlink(name, str(secret))(issue_dir)
    report = check_issue(load_settings(project), DAY)
    about = [p.message for p in report.problems if p.path == issue_dir / name]
    assert about == ["is a symbolic link, which is never built, sent or published; replace it by a copy of the file "
                     "itself"], about
    rendered = report.rendered.html if report.rendered else ""
    assert "SECRET" not in rendered and not report.ok


def test_the_fixture_issue_passes(project: Path) -> None:
    report = check_issue(load_settings(project), DAY)
    assert report.problems == []
    assert report.ok


def test_all_problems_are_reported_at_once(project: Path, issue_dir: Path) -> None:
    _replace("issue.yaml", "résiste au numérique", "x" * 90)(issue_dir)
    write(issue_dir / "03-reseaux.md", item_text(title="T" * 120, body="[x](javascript:void(0)) {{ nom }}"))
    _delete("05-pwc.md")(issue_dir)
    report = check_issue(load_settings(project), DAY)
    messages = " | ".join(p.message for p in report.problems)
    for expected in ("keep it to 78", "keep it to 100", "javascript:void(0)", "{{ nom }}", "this one has 4"):
        assert expected in messages


WARNING_CASES = [
    ("raw HTML block", item_text(body="Un texte.\n\n<script>alert(1)</script>\n"), "02-mobile.md:7", "raw HTML"),
    ("inline HTML", item_text(body="Un <b onclick='x()'>texte</b>."), "02-mobile.md:5", "raw HTML"),
    ("HTML in title", item_text(title="<img src=x onerror=alert(1)>"), "02-mobile.md:2", "contains HTML"),
    ("unknown key", item_text(titel="x"), "02-mobile.md:4", "unknown key 'titel' is ignored; did you mean 'title'?"),
    ("heading", item_text(body="# Titre\n\nTexte."), "02-mobile.md:5", "headings are not used"),
]


@pytest.mark.parametrize(("text", "location", "fragment"), [c[1:] for c in WARNING_CASES],
                         ids=[c[0] for c in WARNING_CASES])
def test_warnings_do_not_fail_the_check(project: Path, issue_dir: Path, text: str, location: str,
                                        fragment: str) -> None:
    write(issue_dir / "02-mobile.md", text)
    report = check_issue(load_settings(project), DAY)
    warnings = [p.format(project) for p in report.problems if p.severity == "warning"]
    assert any(location in w and fragment in w for w in warnings), warnings
    assert report.ok


def test_html_over_the_clipping_budget(project: Path) -> None:
    set_options(project, "content", max_html_bytes=20000)
    report = check_issue(load_settings(project), DAY)
    assert any("Gmail clips" in p.message and p.line is None for p in errors(report.problems))


def test_word_limit_comes_from_the_config(project: Path) -> None:
    set_options(project, "content", max_words=10)
    report = check_issue(load_settings(project), DAY)
    assert sum("keep it to 10 or fewer" in p.message for p in report.problems) == 5


def _lines(report: CheckReport, root: Path, severity: str = "error") -> list[str]:
    return [p.format(root) for p in report.problems if p.severity == severity]


# --- untouched stub text (issue 11) ---

STUB_CASES = [
    ("stub body untouched", item_text(body=_ITEM_STUB.split("---\n")[-1]), "02-mobile.md:5", STUB_PLACEHOLDERS[0]),
    ("stub list line left", item_text(body="Un vrai texte.\n\n1. Un chiffre clé.\n"), "02-mobile.md:7",
     STUB_PLACEHOLDERS[1]),
    ("stub sentence inside text", item_text(body="Le texte. Deux ou trois   phrases, 120 mots au plus. Fin."),
     "02-mobile.md:5", STUB_PLACEHOLDERS[0]),
    ("stub text in a field", item_text(title="Un autre chiffre clé."), "02-mobile.md:2", STUB_PLACEHOLDERS[2]),
]


@pytest.mark.parametrize(("text", "location", "placeholder"), [c[1:] for c in STUB_CASES],
                         ids=[c[0] for c in STUB_CASES])
def test_stub_placeholder_text_is_an_error(project: Path, issue_dir: Path, text: str, location: str,
                                           placeholder: str) -> None:
    write(issue_dir / "02-mobile.md", text)
    report = check_issue(load_settings(project), DAY)
    lines = _lines(report, project)
    assert any(location + ":" in line and f"placeholder text {placeholder!r}" in line for line in lines), lines
    assert not report.ok


def test_an_untouched_new_issue_names_each_stub_file(project: Path) -> None:
    settings = load_settings(project)
    day = date(2026, 12, 1)
    new_issue(settings.issues_dir, day, 5)
    lines = _lines(check_issue(settings, day), project)
    for n in range(1, 6):
        assert any(line.startswith(f"issues/2026-12-01/{n:02d}-info-{n}.md:7:") and "placeholder" in line
                   for line in lines), lines


# --- merge fields that are not well formed (issue 11) ---

MALFORMED = [
    ("{{ first_name.", "'{{ first_name' looks like a merge field", "write {{ first_name }}"),
    ("{{ first_name }.", "'{{ first_name }' looks like a merge field", "write {{ first_name }}"),
    ("{ first_name }", "'{ first_name }' looks like a merge field", "write {{ first_name }}"),
    ("{first_name}", "'{first_name}' looks like a merge field", "write {{ first_name }}"),
    ("first_name }}", "'first_name }}' looks like a merge field", "write {{ first_name }}"),
    ("{{ firstname }}", "unknown merge field {{ firstname }}", "did you mean {{ first_name }}?"),
    ("{{ prenom }}", "unknown merge field {{ prenom }}", "known fields: first_name, last_name, email"),
    ("{ fist_name }", "'{ fist_name }' looks like a merge field", "did you mean {{ first_name }}?"),
    ("{% if first_name %}", "'{%' looks like a merge field", "write {{ first_name }}"),
    ("{prénom}", "'{prénom}' looks like a merge field", "write {{ first_name }}"),
    ("{ prénom", "'{ prénom' looks like a merge field", "write {{ first_name }}"),
    ("nom }", "'nom }' looks like a merge field", "write {{ first_name }}"),
]


@pytest.mark.parametrize("where", ["body", "intro"])
@pytest.mark.parametrize(("written", "what", "hint"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_merge_fields_are_errors_with_a_hint(project: Path, issue_dir: Path, where: str, written: str,
                                                        what: str, hint: str) -> None:
    if where == "body":
        write(issue_dir / "02-mobile.md", item_text(body=f"Un texte.\nBonjour {written}, voici."))
        location = "issues/2026-11-24/02-mobile.md:6: "
    else:
        _replace("issue.yaml", "voici vos", f"{written} voici vos")(issue_dir)
        location = "issues/2026-11-24/issue.yaml:4: "
    report = check_issue(load_settings(project), DAY)
    lines = _lines(report, project)
    assert any(line.startswith(location) and what in line and hint in line for line in lines), lines
    assert not report.ok


@pytest.mark.parametrize("body", [
    'Le format `{"a": 1}` et {{ email }} et { } restent.',
    "L'ensemble {a, b} a deux éléments.",
    "Voir l'encadré {page 3} et {note 2}.",
    "Les solutions {x | x > 0} sont positives.",
], ids=["json and empty", "a set", "words in braces", "set-builder"])
def test_braces_that_are_not_merge_fields_pass(project: Path, issue_dir: Path, body: str) -> None:
    write(issue_dir / "02-mobile.md", item_text(body=body))
    report = check_issue(load_settings(project), DAY)
    assert report.ok, _lines(report, project)


# --- a personal field without a default (issue 11) ---

def _add(store: Store, *people: tuple[str, str, bool]) -> None:
    for address, first_name, active in people:
        add_subscriber(store, address, now=NOW, first_name=first_name)
        if not active:
            unsubscribe(store, address, now=NOW)


NO_DEFAULT = [
    ("first name", "Bonjour {{ first_name }}, voici.", "{{ first_name }} has no default",
     '{{ first_name | default("…") }}'),
    ("last name", "Cher {{last_name}}.", "{{ last_name }} has no default", '{{ last_name | default("…") }}'),
]


@pytest.mark.parametrize(("body", "what", "fix"), [c[1:] for c in NO_DEFAULT], ids=[c[0] for c in NO_DEFAULT])
def test_personal_field_without_default_warns_with_the_count(project: Path, issue_dir: Path, store: Store,
                                                             body: str, what: str, fix: str) -> None:
    _add(store, ("a@example.org", "", True), ("b@example.org", "", True), ("c@example.org", "Zoé", True),
         ("d@example.org", "", False))
    write(issue_dir / "02-mobile.md", item_text(body=body))
    report = check_issue(load_settings(project), DAY, store=store)
    warnings = _lines(report, project, "warning")
    counted = "2 active subscribers" if "first" in what else "3 active subscribers"
    assert any(line.startswith("issues/2026-11-24/02-mobile.md:5: ") and what in line and counted in line
               and fix in line for line in warnings), warnings
    assert report.ok


def test_without_a_store_the_warning_has_no_count(project: Path, issue_dir: Path) -> None:
    _replace("issue.yaml", '{{ first_name | default("à toutes et à tous") }}', "{{ first_name }}")(issue_dir)
    warnings = _lines(check_issue(load_settings(project), DAY), project, "warning")
    assert warnings == ['issues/2026-11-24/issue.yaml:4: warning: {{ first_name }} has no default, so subscribers '
                        'without a first name would read it as an empty word ("Bonjour , …"); write '
                        '{{ first_name | default("…") }}']


@pytest.mark.parametrize("written", ['{{ first_name | default("vous") }}', "{{ first_name | default('') }}",
                                     "{{ email }}"])
def test_fields_with_a_default_do_not_warn(project: Path, issue_dir: Path, store: Store, written: str) -> None:
    _add(store, ("a@example.org", "", True))
    write(issue_dir / "02-mobile.md", item_text(body=f"Bonjour {written}."))
    assert check_issue(load_settings(project), DAY, store=store).problems == []


# --- values placed in HTML attributes (issue 11) ---

ATTRIBUTE_CASES = [
    ("url", {"url": 'https://www.example.org/" onerror="alert(1)'}, "02-mobile.md:4", "'url' contains '\"'"),
    ("url with a space", {"url": "https://www.example.org/a b"}, "02-mobile.md:4", "'url' contains ' '"),
    ("image", {"image": 'https://www.example.org/a.png" style="x', "image_alt": "x"}, "02-mobile.md:4",
     "'image' contains '\"'"),
    ("image_alt", {"image": "images/barres.png", "image_alt": 'a" onerror="alert(2)'}, "02-mobile.md:5",
     "'image_alt' contains '\"'"),
]


@pytest.mark.parametrize(("fields", "location", "fragment"), [c[1:] for c in ATTRIBUTE_CASES],
                         ids=[c[0] for c in ATTRIBUTE_CASES])
def test_attribute_breaking_values_are_errors(project: Path, issue_dir: Path, fields: dict[str, str],
                                              location: str, fragment: str) -> None:
    lines = ["---", 'title: "T"', 'source: "S"'] + [f"{k}: '{v}'" for k, v in fields.items()] + ["---", "Texte.", ""]
    write(issue_dir / "02-mobile.md", "\n".join(lines))
    (issue_dir / "images").mkdir(exist_ok=True)
    report = check_issue(load_settings(project), DAY)
    assert any(location + ":" in line and fragment in line for line in _lines(report, project)), _lines(report, project)


# --- one problem, one line, the right file (issue 11) ---

def test_duplicate_numbers_name_both_files(project: Path, issue_dir: Path) -> None:
    write(issue_dir / "05-autre.md", item_text())
    lines = [line for line in _lines(check_issue(load_settings(project), DAY), project) if "number 05" in line]
    assert sorted(line.split(":")[0] for line in lines) == ["issues/2026-11-24/05-autre.md",
                                                            "issues/2026-11-24/05-pwc.md"]


@pytest.mark.parametrize("name", ["02-mobile.md", "issue.yaml"])
def test_broken_yaml_is_one_problem(project: Path, issue_dir: Path, name: str) -> None:
    _replace(name, "\n", '\nbroken: "unclosed\n')(issue_dir)
    lines = [line for line in _lines(check_issue(load_settings(project), DAY), project) if name in line]
    assert len(lines) == 1 and "invalid YAML" in lines[0], lines


@pytest.mark.parametrize(("name", "old", "new", "key"), [
    ("02-mobile.md", 'title: "Payer avec son mobile ? Non merci"', "title: [Payer, mobile]", "title"),
    ("02-mobile.md", "source: ", "source: {nom: x}\nx: ", "source"),
    ("issue.yaml", 'subject: "Le', 'subject: [Le, x]\nx: "Le', "subject"),
    ("issue.yaml", "preheader: ", "preheader:\n  - a\nx: ", "preheader"),
], ids=["item title list", "item source mapping", "subject list", "preheader list"])
def test_a_required_field_that_is_not_text_is_one_problem(project: Path, issue_dir: Path, name: str, old: str,
                                                          new: str, key: str) -> None:
    _replace(name, old, new)(issue_dir)
    lines = [line for line in _lines(check_issue(load_settings(project), DAY), project)
             if name in line and f"'{key}'" in line]
    assert len(lines) == 1 and "must be text" in lines[0], lines


@pytest.mark.parametrize(("name", "old", "new", "kept", "fixed"), [
    ("02-mobile.md", 'title: "Payer avec son mobile ? Non merci"', "title: Les tendances #DM1to1", "Les tendances",
     'title: "Les tendances #DM1to1"'),
    ("02-mobile.md", "source: ", "source: &Kantar TNS\nx: ", "TNS", 'source: "&Kantar TNS"'),
    ("02-mobile.md", "source: ", "tag: !Important\nsource: ", "", 'tag: "!Important"'),
    ("issue.yaml", 'subject: "Le', 'subject: Le point #3\nx: "Le', "Le point", 'subject: "Le point #3"'),
], ids=["comment in a title", "anchor in a source", "YAML tag as a tag", "comment in the subject"])
def test_a_plain_value_that_yaml_reads_in_part_says_what_was_kept_and_how_to_keep_it_all(
        project: Path, issue_dir: Path, name: str, old: str, new: str, kept: str, fixed: str) -> None:
    _replace(name, old, new)(issue_dir)
    lines = [line for line in _lines(check_issue(load_settings(project), DAY), project, "warning") if name in line]
    said = f"only '{kept}' is read" if kept else "nothing is read"  # not "only '' is read"
    assert any(said in line and fixed in line for line in lines), lines


def test_three_files_with_one_number_are_counted_right(project: Path, issue_dir: Path) -> None:
    write(issue_dir / "5-autre.md", item_text())
    write(issue_dir / "005-encore.md", item_text())
    lines = [line for line in _lines(check_issue(load_settings(project), DAY), project) if "number 05" in line]
    assert len(lines) == 3 and all("3 items have the number 05" in line for line in lines), lines


def test_an_item_file_with_a_capital_extension_is_an_item(project: Path, issue_dir: Path) -> None:
    (issue_dir / "05-pwc.md").rename(issue_dir / "05-pwc.MD")
    report = check_issue(load_settings(project), DAY)
    assert report.ok, _lines(report, project)
    assert [item.path.name for item in report.issue.items][-1] == "05-pwc.MD"


# -- [brand]: colours readable on their backgrounds, a logo with alt text ---------------------------


def _brand(project: Path, table: str, *, logo: bool = False) -> None:
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n[brand]\n" + table, encoding="utf-8")
    if logo:
        (project / "brand").mkdir(exist_ok=True)
        (project / "brand" / "logo.png").write_bytes((FIXTURES / "brand" / "logo.png").read_bytes())


BRAND_CASES = [
    ("link colour #777777", 'primary_color = "#777777"\n', "primary_color", [
        "[brand] primary_color: #777777 on #eef1f4 (links) has a contrast of 3.95:1, under the 4.5:1 WCAG AA",
        "[brand] primary_color: #ffffff on #777777 (button text) has a contrast of 4.48:1"]),
    ("button text on its colour", 'primary_text_color = "#8cc4ff"\n', "primary_text_color", [
        "[brand] primary_text_color: #8cc4ff on #0b5cad (button text) has a contrast of 3.64:1"]),
    ("masthead colour with the default white name", 'header_color = "#777777"\n', "header_color", [
        "[brand] header_color: #ffffff on #777777 (the name in the masthead) has a contrast of 4.48:1"]),
    ("masthead text", 'header_color = "#ffffff"\nheader_text_color = "#777777"\n', "header_text_color", [
        "[brand] header_text_color: #777777 on #ffffff (the name in the masthead) has a contrast of 4.48:1"]),
]


@pytest.mark.parametrize(("table", "key", "messages"), [c[1:] for c in BRAND_CASES], ids=[c[0] for c in BRAND_CASES])
def test_brand_colours_under_aa_are_errors_at_their_key(project: Path, table: str, key: str,
                                                        messages: list[str]) -> None:
    _brand(project, table)
    report = check_issue(load_settings(project), DAY)
    line = (project / "newsletter.toml").read_text(encoding="utf-8").splitlines().index(
        next(t for t in table.splitlines() if t.startswith(key))) + 1
    assert not report.ok
    assert len(report.problems) == len(messages), _lines(report, project)
    for problem, message in zip(report.problems, messages):
        assert problem.message.startswith(message), problem.message
        assert (problem.location(project), problem.severity) == (f"newsletter.toml:{line}", "error")
        assert f'set {key} = "#' in problem.message and "reaches 4.5:1" in problem.message


def test_brand_colours_that_reach_aa_pass(project: Path) -> None:
    _brand(project, 'primary_color = "#6b6b6b"\nheader_color = "#767676"\n')
    assert check_issue(load_settings(project), DAY).problems == []


def test_a_logo_without_alt_text_is_an_error_at_the_logo_key(project: Path) -> None:
    _brand(project, 'name = "CX Matin"\nlogo = "brand/logo.png"\n', logo=True)
    report = check_issue(load_settings(project), DAY)
    assert _lines(report, project) == [
        "newsletter.toml:" + str(len((project / "newsletter.toml").read_text(encoding="utf-8").splitlines()))
        + ": [brand] logo has no logo_alt: readers whose mail client blocks images, and screen readers, get "
        'nothing; add logo_alt = "5 infos relation client" (what the logo says) under [brand]']


def test_a_logo_with_alt_text_passes(project: Path) -> None:
    _brand(project, 'logo = "brand/logo.png"\nlogo_alt = "CX Matin"\n', logo=True)
    assert check_issue(load_settings(project), DAY).problems == []


def test_a_logo_replaced_by_a_non_image_after_loading_is_an_error(project: Path) -> None:
    _brand(project, 'logo = "brand/logo.png"\nlogo_alt = "CX Matin"\n', logo=True)
    settings = load_settings(project)
    (project / "brand" / "logo.png").write_bytes(b"not an image at all")
    report = check_issue(settings, DAY)
    assert any("[brand] logo: 'brand/logo.png' is not a PNG, JPEG or GIF" in line for line in _lines(report, project))


def test_brand_problems_fail_the_check_command(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from newsletter.frontends.cli import main

    _brand(project, 'primary_color = "#777777"\n')
    assert main(["--project", str(project), "check", DAY.isoformat()]) == 1
    assert "[brand] primary_color: #777777" in capsys.readouterr().out


# --- images sharp on phones, a logo that shows on its masthead (issue 24) ---

def _png(path: Path, size: tuple[int, int], colour: str, background: tuple[int, int, int, int] = (0, 0, 0, 0)) -> None:
    """A PNG of ``size`` whose middle (most of it) is ``colour`` on a ``background`` border."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", size, background)
    width, height = size
    ImageDraw.Draw(image).rectangle((width // 10, height // 10, width - width // 10, height - height // 10),
                                    fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def test_an_image_under_twice_its_shown_width_is_a_warning(project: Path) -> None:
    _png(project / "issues" / DAY.isoformat() / "images" / "barres.png", (600, 200), "#0b5cad")
    report = check_issue(load_settings(project), DAY)
    assert report.ok
    assert _lines(report, project, "warning") == [
        "issues/2026-11-24/01-bots.md:5: warning: image 'images/barres.png' is 600 pixels wide and shown 544 wide: blurry on "
        "phones and high-density screens; use one at least 1088 pixels wide"]


def test_a_logo_under_twice_its_shown_width_is_a_warning(project: Path) -> None:
    _brand(project, 'logo = "brand/logo.png"\nlogo_alt = "CX Matin"\nlogo_width = 240\n', logo=True)
    lines = _lines(check_issue(load_settings(project), DAY), project, "warning")
    at = (project / "newsletter.toml").read_text(encoding="utf-8").splitlines().index('logo = "brand/logo.png"') + 1
    assert lines == [f"newsletter.toml:{at}: warning: image 'brand/logo.png' is 360 pixels wide and shown 240 wide: blurry "
                     "on phones and high-density screens; use one at least 480 pixels wide"]


@pytest.mark.parametrize(("header", "logo", "background"), [
    ('header_color = "#f4f1ea"\n', "#1d2433", "#f4f1ea"),  # a light masthead, kept in dark mode: a dark logo shows
    ("", "#1d2433", "#102a43"),  # the email's own navy masthead (darker still in dark mode)
])
def test_a_logo_that_hardly_shows_on_its_masthead_is_a_warning(project: Path, header: str, logo: str,
                                                               background: str) -> None:
    _brand(project, f'logo = "brand/logo.png"\nlogo_alt = "CX Matin"\n{header}')
    _png(project / "brand" / "logo.png", (400, 100), logo)
    lines = _lines(check_issue(load_settings(project), DAY), project, "warning")
    if header:
        assert lines == []
        config = project / "newsletter.toml"
        config.write_text(config.read_text(encoding="utf-8").replace("#f4f1ea", "#2a3142"), encoding="utf-8")
        lines = _lines(check_issue(load_settings(project), DAY), project, "warning")
        background = "#2a3142"
    assert len(lines) == 1 and f"[brand] logo 'brand/logo.png': its colour {logo} on the masthead's {background} " \
        "has a contrast of" in lines[0] and "under 3:1" in lines[0], lines


#: ``newsletter check`` as the command line runs it, in a fresh process; then its exit code and every module
#: it imported.
CHECK_PROBE = ("import json, sys\n"
               "from newsletter.frontends.cli import main\n"
               "code = main(sys.argv[2:])\n"
               "with open(sys.argv[1], 'w', encoding='utf-8') as handle:\n"
               "    json.dump({'code': code, 'modules': sorted(sys.modules)}, handle)\n")


def test_a_check_without_a_database_loads_no_database_library(project: Path, tmp_path: Path) -> None:
    """The issue's promise, ``check`` of the sample issue under a second (issue 27), held by what it imports, not
    by a timer: a project without a database yet (no subscribers) needs no store, and SQLAlchemy alone costs a
    fifth of a second to import."""
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c", CHECK_PROBE, str(out), "--project", str(project), "check", DAY.isoformat()],
                   check=True, env={k: v for k, v in os.environ.items() if k != "NEWSLETTER_SECRET_KEY"},
                   capture_output=True, timeout=180)
    found = json.loads(out.read_text(encoding="utf-8"))
    modules = set(found["modules"])
    assert found["code"] == 0 and "newsletter.services.check" in modules  # the probe did run the check
    assert not (project / "state" / "newsletter.db").exists()  # and created no database
    assert sorted(m for m in modules if m.split(".")[0] == "sqlalchemy" or m.startswith("newsletter.store.")) == []


def test_the_dictionary_is_loaded_once_for_every_check_of_a_process(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desk checks an issue at every page it shows: loading the dictionary (most of the spelling check's
    time) happens at the first check only."""
    from newsletter.content import spelling

    try:
        spelling.dictionary("fr_FR")
    except spelling.SpellingUnavailable as err:
        pytest.skip(str(err))
    import enchant

    loaded: list[str] = []
    real = enchant.Dict.__init__

    def counted(self: enchant.Dict, tag: str, *args: object) -> None:
        loaded.append(tag)
        real(self, tag, *args)

    monkeypatch.setattr(enchant.Dict, "__init__", counted)
    spelling.dictionary.cache_clear()
    settings = load_settings(project)
    for _ in range(3):
        assert check_issue(settings, DAY).ok
    assert loaded == ["fr_FR"]
