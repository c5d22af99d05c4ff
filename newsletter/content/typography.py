"""French typography, applied to running text so that editors need not type it.

Rules (Imprimerie nationale, as most French newsrooms apply them):

- a no-break space (U+00A0) before ``:`` and inside « »;
- a narrow no-break space (U+202F) before ``;``, ``!``, ``?`` and ``%``;
- a narrow no-break space between the digit groups of large numbers (``2 000``);
- a no-break space between a number and its unit or currency (``12 km``, ``3 M€``).

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
_UNITS = (
    "k€|M€|Md€|Mds€|€|\\$|£|°C|°F|km/h|km|cm|mm|m²|m|kg|g|t|h|min|ms|s|Go|Mo|Ko|To|Gbit/s|Mbit/s"
    "|millions|milliards|milliers"
)
_NUMBER_UNIT = re.compile(r"(\d)" + _SP + r"+(" + _UNITS + r")(?![\w/])")


def _french_segment(text: str) -> str:
    text = _THOUSANDS.sub(lambda m: re.sub(_SP, NNBSP, m.group(0)), text)
    text = _PERCENT.sub(r"\1" + NNBSP + "%", text)
    text = _NUMBER_UNIT.sub(r"\1" + NBSP + r"\2", text)
    text = _HIGH_PUNCT.sub(NNBSP + r"\1", text)
    text = _COLON.sub(NBSP + ":", text)
    text = _OPEN_QUOTE.sub("«" + NBSP, text)
    text = _CLOSE_QUOTE.sub(NBSP + "»", text)
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
