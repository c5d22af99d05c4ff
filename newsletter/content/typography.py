"""French typography, applied to running text so that editors need not type it.

Rules (Imprimerie nationale, as most French newsrooms apply them):

- a no-break space (U+00A0) before ``:`` and inside « »;
- a narrow no-break space (U+202F) before ``;``, ``!``, ``?`` and ``%``;
- a narrow no-break space between the digit groups of large numbers (``2 000``);
- a no-break space between a number and its unit, so that the two never sit on two lines
  (``12 km``, ``3 M€``, ``4 minutes``, ``2,5 milliards``, and ``7 h 30`` as a whole). The
  units (:data:`UNITS`) are time (s, min, h, secondes, minutes, heures, jours, semaines,
  mois, ans, années, siècles), money (€, k€, M€, Md€, $, £, euros, dollars, centimes),
  proportions (``%`` gets a narrow one, points), measures (mm, cm, m, km, m², km², ha,
  km/h, g, kg, t, l, °C, °F, W to GW, kWh to TWh, Ko to To, Mbit/s, Gbit/s, and their
  names: mètres, kilomètres, grammes, kilos, tonnes, litres, hectares, degrés), electricity
  and signals (V, kV, mV, A, mA, volts, watts, Hz to GHz, dB), small measures (cl, ml, mg, nm,
  m³) and amounts (milliers, millions, milliards, Md/Mds/Mrd/Mrds, M$, Md$), singular or plural;
- a typographic apostrophe (’) for the straight one inside words (``l'État`` → ``l’État``);
- straight double quotes paired on one line become « » (``"Big Data"`` → ``« Big Data »``,
  with the no-break spaces); an unpaired one is left as typed;
- three dots become an ellipsis (``...`` → ``…``);
- ``--`` between spaces or digits becomes the en dash (tiret demi-cadratin, ``–``), which the
  Imprimerie nationale uses for an incise and for ranges (``10--12`` → ``10–12``); ``---``
  between spaces becomes the em dash (tiret cadratin, ``—``). Other runs of hyphens (``--help``,
  a ``----`` rule, the ``-- `` that opens a signature) are left alone.

The functions work on *text*, never on markup: callers pass text nodes only, so URLs in
``href``, attributes and code are never touched. URLs and e-mail addresses that appear in
running text are skipped too.
"""

from __future__ import annotations

import re
from typing import Callable

NBSP = "\u00a0"
NNBSP = "\u202f"
_SP = "[ \u00a0\u202f]"

_PROTECTED = re.compile(r"(?:https?://|www\.|mailto:)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_OPEN = r"(?<=[^\s(\[«\"“])"
_CLOSE = r"(?=$|[\s»)\]\"”’.,…])"
_HIGH_PUNCT = re.compile(_OPEN + _SP + r"*([;!?]+)" + _CLOSE)
_COLON = re.compile(_OPEN + _SP + r"*:" + _CLOSE)
_PERCENT = re.compile(r"(\d)" + _SP + r"*%")
_OPEN_QUOTE = re.compile("«" + _SP + "*")
_CLOSE_QUOTE = re.compile(_SP + "*»")
_THOUSANDS = re.compile(r"(?<![\d,.])\d{1,3}(?:" + _SP + r"\d{3})+(?![\d])")
#: The units a number is tied to (documented above and in docs/writing.md).
UNITS = (
    "secondes?", "minutes?", "heures?", "jours?", "semaines?", "mois", "ans?", "années?", "siècles?",
    "euros?", "dollars?", "centimes?", "points?",
    "mètres?", "kilomètres?", "centimètres?", "millimètres?", "grammes?", "kilogrammes?", "kilos?", "tonnes?",
    "litres?", "hectares?", "degrés?", "volts?", "watts?", "octets?",
    "milliers", "millions?", "milliards?", "Mds?", "Mrds?",
    "k€", "M€", "Mds?€", "Md\\$", "M\\$", "€", r"\$", "£", "°C", "°F", "km/h", "km²", "km", "cm", "mm", "m²", "m", "ha",
    "kg", "g", "t", "l", "h", "min", "ms", "s", "Go", "Mo", "Ko", "To", "Gbit/s", "Mbit/s",
    "kWh", "MWh", "GWh", "TWh", "W", "kW", "MW", "GW", "V", "kV", "mV", "A", "mA", "Hz", "kHz", "MHz", "GHz",
    "dB", "cl", "ml", "mg", "nm", "m³",
)
_UNITS = "|".join(UNITS)
_NUMBER_UNIT = re.compile(r"(\d)" + _SP + r"+(" + _UNITS + r")(?![\w/²])")
#: The minutes of a time of day stay with their hour: « 7 h 30 ».
_HOUR_MINUTES = re.compile(r"(\d" + NBSP + r"h)" + _SP + r"+([0-5]\d)(?!\d)")
_APOSTROPHE = re.compile(r"(?<=[^\W\d_])'(?=[^\W_])")
#: A straight double quote that opens (at the start or after a space or an opening bracket, before
#: a non-space) or closes (after a non-space, before a space, punctuation or the end).
_QUOTE_OPENS = re.compile(r'(?:^|(?<=[\s(\[—–-]))"(?=\S)')
_QUOTE_CLOSES = re.compile(r'(?<=\S)"(?=$|[\s)\].,;:!?…’-])')
_ELLIPSIS = re.compile(r"(?<!\.)\.\.\.(?!\.)")
_EN_DASH = re.compile(r"(?<=[ \u00a0\d])--(?=[ \u00a0\d])")
_EM_DASH = re.compile(r"(?<=[ \u00a0])---(?=[ \u00a0])")


def _quote_pairs(line: str) -> list[tuple[int, int]]:
    """Where the straight double quotes of one line open and close (a quote that pairs with none is left out)."""
    pairs = []
    opened: int | None = None
    for m in re.finditer('"', line):
        at = m.start()
        if opened is None and _QUOTE_OPENS.match(line, at):
            opened = at
        elif opened is not None and _QUOTE_CLOSES.match(line, at):
            pairs.append((opened, at))
            opened = None
    return pairs


def pair_quotes(pieces: list[str]) -> list[str]:
    """The pieces of one paragraph line (text nodes split by emphasis or links) with their straight
    double quotes paired into « » across pieces, as :func:`french` does within one text."""
    joined = "".join(pieces)
    if '"' not in joined:
        return pieces
    chars = list(joined)
    for start, end in _quote_pairs(joined):
        chars[start], chars[end] = "«", "»"
    out, pos = [], 0
    for piece in pieces:
        out.append("".join(chars[pos : pos + len(piece)]))
        pos += len(piece)
    return out


def _french_segment(text: str) -> str:
    if '"' in text:
        text = "\n".join(pair_quotes([line])[0] for line in text.split("\n"))
    text = _ELLIPSIS.sub("…", text)
    text = _EM_DASH.sub("—", text)
    text = _EN_DASH.sub("–", text)
    text = _THOUSANDS.sub(lambda m: re.sub(_SP, NNBSP, m.group(0)), text)
    text = _PERCENT.sub(r"\1" + NNBSP + "%", text)
    text = _NUMBER_UNIT.sub(r"\1" + NBSP + r"\2", text)
    text = _HOUR_MINUTES.sub(r"\1" + NBSP + r"\2", text)
    text = _HIGH_PUNCT.sub(NNBSP + r"\1", text)
    text = _COLON.sub(NBSP + ":", text)
    text = _OPEN_QUOTE.sub("«" + NBSP, text)
    text = _CLOSE_QUOTE.sub(NBSP + "»", text)
    text = _APOSTROPHE.sub("’", text)
    return text


def french(text: str) -> str:
    """Apply French typography to running text, leaving URLs and addresses untouched."""
    out = []
    pos = 0
    for m in _PROTECTED.finditer(text):
        out.append(_french_segment(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_french_segment(text[pos:]))
    return "".join(out)


def typographer(locale: str) -> Callable[[str], str]:
    """The typography function for a locale: French rules for ``fr*``, identity otherwise."""
    if locale.split("_")[0].lower() == "fr":
        return french
    return lambda text: text
