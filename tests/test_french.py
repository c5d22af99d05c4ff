"""French for French readers: every French message typeset as French wants it, counts through gettext's
plural forms, no English left inside, and a command line that speaks the terminal's language."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from newsletter.core.addresses import canonical
from newsletter.core.i18n import TRANSLATIONS_DIR, Quoted, user_locale, words
from newsletter.errors import AddressError
from newsletter.frontends.cli import main
from tests.conftest import DAY, item_text, write
from tests.helpers.french import NBSP, NNBSP, mistakes

#: The CLDR date patterns: their quotes and colons are syntax, not French.
PATTERNS = {"yyyy-MM-dd", "yyyy-MM-dd HH:mm", "EEEE d MMMM y 'at' HH:mm", "HH:mm"}  # CLDR date patterns: quotes are syntax

#: Messages whose count cannot be 1 by construction, so that one plural form is right.
ALWAYS_MANY = {
    # a value spanning lines spans two or more
    '%(path)s:%(line)d: a quote (") opened on this line is never closed, so the value runs over %(count)s lines '
    "and would swallow the rows after it; nothing was imported",
    # "two items have…" is its own message: this one is said from three
    "%(count)d items have the number %(number)02d (this file and %(others)s); renumber one",
    # said only above a limit of several
    "the text has %(count)s characters; an item is a few sentences (at most %(limit)s characters), shorten it",
    "'%(name)s' has %(count)d characters; keep it to %(limit)d or fewer",
    "the text has %(words)d words; keep it to %(limit)d or fewer (it is a short item)",
    "image %(image)s is %(width)d pixels wide and shown %(shown)d wide: blurry on phones and high-density screens; "
    "use one at least %(needed)d pixels wide",
    # one subscriber has its own message
    '{{ first_name }} has no default, so %(count)d active subscribers without a first name would read it as an '
    'empty word ("Bonjour , …"); write {{ first_name | default("…") }}',
    '{{ last_name }} has no default, so %(count)d active subscribers without a last name would read it as an '
    'empty word ("Bonjour , …"); write {{ last_name | default("…") }}',
    # the status lists 20 (UNCERTAIN_SHOWN) of more
    "  (%(shown)d of the %(total)d uncertain addresses shown; `newsletter status %(date)s --json` lists them all)",
    # [desk] import_limit and [delivery]'s bounce window are large numbers
    "%(file)s has more than %(rows)s lines: the desk imports at most that many at a time. Import it on the "
    "server with: newsletter subscribers import FILE",
    "The send of the issue of %(day)s paused itself: %(bounces)d hard bounces among the last %(messages)d "
    "messages (%(rate)s), above [delivery] max_bounce_rate (%(limit)s).",
    # doctor: said of two records or more, of the DNS after its two timeouts, above SPF's limit of 10 lookups
    "%(count)d DKIM records at %(name)s; verifiers may pick either",
    "%(count)d DMARC records at %(name)s: receivers ignore them all",
    "%(domain)s has %(count)d SPF records; receivers then fail SPF (RFC 7208 4.5)",
    "%(kind)s %(name)s: skipped after %(count)d timeouts",
    "SPF needs more than %(limit)d DNS lookups (%(count)d counted, includes followed): receivers fail it "
    "(RFC 7208 4.6.4)",
}
#: A count, then a French plural: "%(count)s lignes", "%(n)s personnes", "%(rejected)s rejetés".
_COUNTED = re.compile(r"%\((?:count|num|n|rows|added|updated|unchanged|rejected|bounces|messages|sent|failed|"
                      r"uncertain|every|grace|minutes|total|shown|words|expected|width|needed|items)\)[sd]"
                      r"[ \u00a0\u202f]+(\w{2,}[sx])\b")


def _french() -> list:
    with (TRANSLATIONS_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return [m for m in read_po(handle, locale="fr") if m.id]


def _strings(message) -> list[str]:  # type: ignore[no-untyped-def]
    return [message.string] if isinstance(message.string, str) else list(message.string)


def test_every_french_message_is_typeset_as_french_wants() -> None:
    wrong = {message.id: found for message in _french() if message.id not in PATTERNS
             for found in [[m for s in _strings(message) for m in mistakes(s)]] if found}
    assert wrong == {}, "write ’, a no-break space before : and inside « », a narrow one before ; ? !"


def test_a_count_before_a_plural_noun_goes_through_plural_forms() -> None:
    single = [message.string for message in _french() if isinstance(message.id, str)
              and message.id not in ALWAYS_MANY and _COUNTED.search(message.string)]
    assert single == [], "use ngettext (or Count) so that 1 reads \"1 ligne\", not \"1 lignes\""


def test_the_checks_catch_the_mistakes_of_the_issue() -> None:
    assert mistakes("actif: 3") and mistakes("ligne 5: …") and mistakes("S'inscrire") and mistakes("« x »")
    assert mistakes("An email address must have an @-sign.")
    assert _COUNTED.search("%(n)s personnes parties") and _COUNTED.search("%(rejected)s rejetés.")
    assert not mistakes(f"S’inscrire{NNBSP}? «{NBSP}x{NBSP}» ligne{NBSP}: `newsletter check` title: \"…\" 4,5:1")


def _prose_outside_the_catalog(text: str) -> list[str]:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", "\x01", text, flags=re.S)
    text = re.sub(r"<[^>]*>", "\x01", text)
    return [piece.strip() for piece in text.split("\x01")
            if re.search(r"[A-Za-zÀ-ÿ:;?!«»]", piece) and not re.fullmatch(r"\s*(?::1|\d* ?px|index)\s*", piece)]


@pytest.mark.parametrize("template", sorted(p for p in (TRANSLATIONS_DIR.parent / "frontends").rglob("templates/**/*")
                                            if p.suffix in (".html", ".txt")), ids=lambda p: p.name)
def test_templates_write_no_words_outside_the_catalog(template: Path) -> None:
    assert _prose_outside_the_catalog(template.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("address", ["nobody", "@example.org", "camille@", "a..b@example.org", "a b@example.org",
                                     "camille@localhost", "Camille <camille@example.org>", '"c"@example.org',
                                     "camille@example.org x", "camille@-example.org"])
def test_email_validator_reasons_are_said_in_french(address: str) -> None:
    with pytest.raises(AddressError) as caught:
        canonical(address)
    said = caught.value.text(words("fr_FR").translations.gettext)
    assert "n’est pas une adresse valide" in said and mistakes(said.replace(repr(address), "")) == [], said


# -- the command line ------------------------------------------------------------------------------------


def run(project: Path, *args: str) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = main(["--project", str(project), *args])
    return code, printed.getvalue()


@pytest.mark.parametrize(("environ", "locale"), [
    ({"LANG": "fr_FR.UTF-8"}, "fr_FR"), ({"LC_MESSAGES": "fr_FR.UTF-8"}, "fr_FR"), ({"LC_ALL": "fr_CA.utf8"}, "fr_FR"),
    ({"LANG": "fr_FR.UTF-8", "LC_ALL": "C"}, "en_US"), ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "fr_FR"}, "fr_FR"),
    ({"LANG": "C"}, "en_US"), ({"LANG": "de_DE.UTF-8"}, "en_US"), ({}, "en_US"), ({"LANG": "fr@euro"}, "fr_FR")])
def test_the_terminal_locale_follows_posix_order(environ: dict[str, str], locale: str) -> None:
    assert user_locale(environ) == locale


def test_check_speaks_french_under_a_french_locale(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    write(project / "issues" / DAY.isoformat() / "02-mobile.md", item_text(title=""))
    code, out = run(project, "check", DAY.isoformat())
    assert code == 1
    assert f"issues/2026-11-24/02-mobile.md:2{NBSP}: «{NBSP}title{NBSP}» est obligatoire" in out
    assert f"erreur{NBSP}: issues/2026-11-24{NBSP}: 1 erreur, 0 avertissement" in out
    assert f"piste{NBSP}: corrigez les lignes ci-dessus" in out
    assert "error" not in out and "hint:" not in out


def test_check_speaks_english_under_c_and_en_us(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for locale in ("C", "en_US.UTF-8"):
        monkeypatch.setenv("LANG", locale)
        code, out = run(project, "check", "2030-01-01")
        assert code == 1 and "error: no issue for 2030-01-01" in out and "hint: create it with" in out, out


def test_a_missing_issue_and_project_are_said_in_french(project: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_ALL", "fr_FR.UTF-8")
    code, out = run(project, "check", "2030-01-01")
    assert code == 1 and f"erreur{NBSP}: pas de numéro pour le 2030-01-01" in out
    assert f"piste{NBSP}: créez-le avec `newsletter new 2030-01-01`" in out
    code, out = run(tmp_path / "nowhere", "status")
    assert code == 2 and f"erreur{NBSP}:" in out and "n’existe pas" in out and "does not" not in out, out


def test_new_and_build_count_with_plural_forms(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    code, out = run(project, "new", "2026-11-25")
    assert code == 0 and "6 fichiers créés dans" in out and "Rédigez les infos, puis lancez" in out, out
    code, out = run(project, "new", "2026-11-25")
    assert code == 2 and f"existe déjà{NNBSP}; rien n’a été écrit" in out, out


def test_subscribers_speak_french_with_singulars(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    csv = write(project / "abonnes.csv", "email,first_name\ncamille@example.org,Camille\nnobody,Personne\n")
    code, out = run(project, "subscribers", "import", str(csv))
    assert code == 0, out
    assert f"abonnes.csv:3{NBSP}: «{NBSP}nobody{NBSP}» n’est pas une adresse valide{NBSP}: il manque le @" in out
    assert "1 ajouté, 0 mis à jour" in out and "1 rejeté" in out and "rejetés" not in out, out
    code, out = run(project, "subscribers", "list")
    assert "1 actif" in out and "actifs" not in out, out
    code, out = run(project, "subscribers", "add", "nobody")
    assert code == 2 and f"EMAIL{NBSP}: «{NBSP}nobody{NBSP}» n’est pas une adresse valide{NBSP}: il manque le @" in out, out
    assert "must have" not in out


def test_the_same_commands_stay_english_elsewhere(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    csv = write(project / "list.csv", "email\ncamille@example.org\nnobody\n")
    code, out = run(project, "subscribers", "import", str(csv))
    assert "list.csv:3: 'nobody' is not a valid address: it has no @" in out
    assert "1 added, 0 updated" in out and "1 rejected" in out, out
    code, out = run(project, "new", "2026-11-25")
    assert "Created 6 files in" in out, out


# -- quoted values -----------------------------------------------------------------------------------------

#: A placeholder quoted the English way in a French sentence: '%(x)s', {x!r} (str.format), %(x)r.
_STRAIGHT_QUOTED = re.compile(r"'%\(\w+\)s'|\{\w+!r\}|%\(\w+\)r")


def test_no_french_message_quotes_a_value_with_straight_quotes() -> None:
    straight = {message.id: s for message in _french() for s in _strings(message) if _STRAIGHT_QUOTED.search(s)}
    assert straight == {}, "quote a value as «\u00a0%(x)s\u00a0» (or «\u00a0{x}\u00a0»)"


def test_a_quoted_value_is_said_between_guillemets_in_french_and_as_repr_in_english() -> None:
    french, english = words("fr_FR").translations.gettext, words("en_US").translations.gettext
    assert Quoted("one-to-one").text(french) == f"«{NBSP}one-to-one{NBSP}»"
    assert Quoted("l'adresse\x1b[31m\n").text(french) == f"«{NBSP}l'adresse\\x1b[31m\\n{NBSP}»"
    for value in ("one-to-one", "l'adresse\x1b\n", 'a "b"'):
        assert Quoted(value).text(english) == str(Quoted(value)) == repr(value)


def test_check_quotes_the_values_it_cites_between_guillemets_in_french(project: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    write(project / "issues" / DAY.isoformat() / "02-mobile.md",
          item_text(url="javascript:alert(1)", body="Voir [un autre](www.example.org/a) et [ici](javascript:void(0))."))
    code, out = run(project, "check", DAY.isoformat())
    assert code == 1
    for value in ("javascript:alert(1)", "www.example.org/a", "javascript:void(0)"):
        assert f"«{NBSP}{value}{NBSP}»" in out and f"'{value}'" not in out, out
    monkeypatch.setenv("LANG", "C")
    code, out = run(project, "check", DAY.isoformat())
    assert "url 'javascript:alert(1)' must be a complete" in out and "link 'www.example.org/a' has no" in out, out
