"""The spelling check of `newsletter check`: real Hunspell dictionaries through libenchant."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.content.model import Issue, Item
from newsletter.core.i18n import words
from newsletter.content.spelling import SpellingUnavailable, debian_package, dictionary, spelling_problems
from newsletter.services.check import check_issue
from tests.conftest import DAY
from tests.helpers.config import set_options
from tests.helpers.french import NNBSP, english

# Facts of the seed article on the « Stratégies Digital Week » (Médiamétrie's figures), in our words.
CORRECT_FR = (
    "D’après Médiamétrie, 94 % des Français ont déjà entendu parler des objets connectés, mais seuls 57 % "
    "les jugent utiles. L’inquiétude porte sur l’utilisation des données et le sentiment d’être surveillé. "
    "Qu’il s’agisse du contrôle à distance ou du suivi de la santé, l’IoT progresse depuis le 1er janvier ; "
    "au XXIe siècle, la porte-parole de l’entreprise l'assure : « c’est un enjeu stratégique ». "
    "Lire https://www.example.org/iot-etude, `make test` et {{ first_name | default(\"lecteur\") }}."
)


def _issue(tmp_path: Path, title: str, body: str) -> Issue:
    item = Item(tmp_path / "01-a.md", 1, title, "Source", body, 6, lines={"title": 2})
    return Issue(date(2026, 11, 24), tmp_path, "", "", "", 5, (item,))


def _skip_without(locale: str) -> None:
    try:
        dictionary(locale)
    except SpellingUnavailable as err:
        pytest.skip(str(err))


def test_correct_french_is_silent(tmp_path: Path) -> None:
    _skip_without("fr_FR")
    assert spelling_problems(_issue(tmp_path, "Les objets connectés inquiètent", CORRECT_FR), "fr_FR",
                             tmp_path / "dictionary.txt") == []


def test_misspelled_french_is_warned_with_line_and_suggestion(tmp_path: Path) -> None:
    _skip_without("fr_FR")
    problems = spelling_problems(_issue(tmp_path, "Le gouvernemnt publie", "Une ligne juste.\nL’économiqe recule."),
                                 "fr_FR", tmp_path / "dictionary.txt")
    assert [(p.path.name, p.line, p.severity) for p in problems] == [("01-a.md", 2, "warning"),
                                                                     ("01-a.md", 7, "warning")]
    assert "'gouvernemnt'" in problems[0].message and "gouvernement" in problems[0].message
    assert "économique" in problems[1].message and "dictionary.txt" in problems[1].message


def test_project_dictionary_words_are_accepted(tmp_path: Path) -> None:
    _skip_without("fr_FR")
    (tmp_path / "dictionary.txt").write_text("# nos mots\nfintech  # le métier\n", encoding="utf-8")
    assert spelling_problems(_issue(tmp_path, "Une fintech lève des fonds", "La fintech recrute."), "fr_FR",
                             tmp_path / "dictionary.txt") == []


def test_urls_code_names_and_acronyms_are_ignored(tmp_path: Path) -> None:
    _skip_without("fr_FR")
    body = ("Selon Zenika et la CNIL, voir <https://exemple.org/zzqqx> ou [ceci](https://a.example/xxqzq), "
            "le code `fooqzx()` et\n```\nqqzzx wwqzq\n```\nécrire à ecrire@exemple.org.")
    assert spelling_problems(_issue(tmp_path, "Le bilan", body), "fr_FR", tmp_path / "d.txt") == []


def test_english_newsletter(tmp_path: Path) -> None:
    _skip_without("en_US")
    problems = spelling_problems(_issue(tmp_path, "The goverment speaks", "Readers like the news."), "en_US",
                                 tmp_path / "dictionary.txt")
    assert len(problems) == 1 and "government" in problems[0].message


def test_missing_dictionary_is_one_clear_notice(project: Path) -> None:
    set_options(project, "newsletter", locale="de_AT")  # a known locale whose dictionary is not installed
    report = check_issue(load_settings(project), DAY)
    notices = [p for p in report.problems if "spelling" in p.message]
    assert len(notices) == 1
    assert notices[0].path.name == "newsletter.toml" and notices[0].severity == "warning"
    assert ("spelling is not checked: no de_AT dictionary is installed; install Debian's hunspell-de-at "
            in notices[0].message)
    french = notices[0].text(words("fr_FR").translations.gettext)  # as the desk shows it beside the issue
    assert f"aucun dictionnaire de_AT n’est installé{NNBSP}; installez le paquet Debian hunspell-de-at" in french
    assert english(french) == [], french


@pytest.mark.parametrize(("locale", "package"), [
    ("fr_FR", "hunspell-fr"), ("fr_CA", "hunspell-fr"), ("en_GB", "hunspell-en-gb"), ("en", "hunspell-en-us"),
    ("en_US", "hunspell-en-us"), ("de_AT", "hunspell-de-at"), ("pt_BR", "hunspell-pt-br"), ("es", "hunspell-es"),
])
def test_the_missing_dictionary_names_a_package_debian_has(locale: str, package: str) -> None:
    assert debian_package(locale) == package


@pytest.mark.parametrize(("locale", "spelling", "level"), [("fr_FR", True, "ok"), ("de_AT", True, "warning"),
                                                           ("de_AT", False, "ok")])
def test_doctor_says_whether_check_can_spell(project: Path, locale: str, spelling: bool, level: str) -> None:
    from newsletter.doctor.config import check_spelling

    set_options(project, "newsletter", locale=locale)
    set_options(project, "check", spelling=spelling)
    finding = check_spelling(load_settings(project))
    assert finding.check == "spelling" and finding.level.value == level
    if level == "warning":
        assert "hunspell-de-at" in finding.message and "spelling = false" in finding.fix


def test_spelling_can_be_turned_off(project: Path) -> None:
    set_options(project, "newsletter", locale="de_AT")
    set_options(project, "check", spelling=False)
    assert not [p for p in check_issue(load_settings(project), DAY).problems if "spelling" in p.message]
