"""French typography is applied to running text, never to URLs or addresses."""

from __future__ import annotations

import pytest

from newsletter.content.typography import NBSP, NNBSP, french, typographer

CASES = [
    ("Source : Kantar", f"Source{NBSP}: Kantar"),
    ("Source: Kantar", f"Source{NBSP}: Kantar"),
    ("46 % des Français", f"46{NNBSP}% des Français"),
    ("46% des Français", f"46{NNBSP}% des Français"),
    ("Vraiment ? Oui !", f"Vraiment{NNBSP}? Oui{NNBSP}!"),
    ("Quoi ?!", f"Quoi{NNBSP}?!"),
    ("un point ; un autre", f"un point{NNBSP}; un autre"),
    ("« bonjour »", f"«{NBSP}bonjour{NBSP}»"),
    ("«bonjour»", f"«{NBSP}bonjour{NBSP}»"),
    ("2 000 dirigeants", f"2{NNBSP}000 dirigeants"),
    ("1 500 000 euros", f"1{NNBSP}500{NNBSP}000{NBSP}euros"),
    ("12 km et 3 M€", f"12{NBSP}km et 3{NBSP}M€"),
    ("2,5 milliards", f"2,5{NBSP}milliards"),
    ("à 7:00 précises", "à 7:00 précises"),
    ("voir https://example.org/a?b=1 ici", "voir https://example.org/a?b=1 ici"),
    ("écrire à redaction@example.org", "écrire à redaction@example.org"),
    ("(?)", "(?)"),
    ("l'État et aujourd'hui", "l’État et aujourd’hui"),
    ("qu'en 2018", "qu’en 2018"),
    ("'citation'", "'citation'"),
    ("voir https://example.org/l'a et a'b@example.org", "voir https://example.org/l'a et a'b@example.org"),
    ("4 minutes de lecture", f"4{NBSP}minutes de lecture"),
    ("1 heure, 3 jours, 2 semaines, 6 mois, 20 ans", f"1{NBSP}heure, 3{NBSP}jours, 2{NBSP}semaines, 6{NBSP}mois, "
     f"20{NBSP}ans"),
    ("30 euros, 5 dollars, 3 Md€", f"30{NBSP}euros, 5{NBSP}dollars, 3{NBSP}Md€"),
    ("2 millions, 1 milliard", f"2{NBSP}millions, 1{NBSP}milliard"),
    ("3 points, 12 km², 40 tonnes, 5 litres, 10 kWh", f"3{NBSP}points, 12{NBSP}km², 40{NBSP}tonnes, "
     f"5{NBSP}litres, 10{NBSP}kWh"),
    ("3 mots et 5 marques", "3 mots et 5 marques"),
    ("en 2017 200 personnes", "en 2017 200 personnes"),
    ("à 7 h 30 précises", f"à 7{NBSP}h{NBSP}30 précises"),
    ("de 9 h 05 à 18 h", f"de 9{NBSP}h{NBSP}05 à 18{NBSP}h"),
    ("1 h 30 min", f"1{NBSP}h{NBSP}30{NBSP}min"),
    ("à 7 h 300 mètres", f"à 7{NBSP}h 300{NBSP}mètres"),
    # Straight double quotes paired on a line become « », and the colon after them is tied too.
    ('Le "Big Data" : 3 V', f"Le «{NBSP}Big Data{NBSP}»{NBSP}: 3{NBSP}V"),
    ('"Oui", dit-il.', f"«{NBSP}Oui{NBSP}», dit-il."),
    ('un "seul guillemet', 'un "seul guillemet'),
    ('voir "https://example.org/a"b" ici', 'voir "https://example.org/a"b" ici'),
    # Numbers stay with their unit.
    ("3,5 Mds de dollars, 2 Mrd", f"3,5{NBSP}Mds de dollars, 2{NBSP}Mrd"),
    ("12 % et 40 000 €", f"12{NNBSP}% et 40{NNBSP}000{NBSP}€"),
    ("230 V, 16 A, 5 GHz, 3 nm, 20 dB", f"230{NBSP}V, 16{NBSP}A, 5{NBSP}GHz, 3{NBSP}nm, 20{NBSP}dB"),
    # Ellipsis and dashes, never inside URLs or option names.
    ("Et alors...", "Et alors…"),
    ("Et alors.... non", "Et alors.... non"),
    ("le marché -- en baisse -- reprend", "le marché – en baisse – reprend"),
    ("de 10--12 ans", f"de 10–12{NBSP}ans"),
    ("Non --- jamais.", "Non — jamais."),
    ("lancez --help ou https://example.org/a--b...c", "lancez --help ou https://example.org/a--b...c"),
    ("----", "----"),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_french_rules(text: str, expected: str) -> None:
    assert french(text) == expected


@pytest.mark.parametrize("text", [c[0] for c in CASES])
def test_applying_twice_changes_nothing(text: str) -> None:
    assert french(french(text)) == french(text)


def test_other_locales_are_left_alone() -> None:
    assert typographer("en_GB")("Source : x") == "Source : x"
    assert typographer("fr_CA")("Source : x") == f"Source{NBSP}: x"
