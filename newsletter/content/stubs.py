"""The placeholder sentences of a new item stub (``newsletter new``).

``check`` refuses any text that still holds one, so an untouched stub can never be sent;
the scaffold writes them into each stub. Both read them from here.
"""

from __future__ import annotations

#: The sentences, in the order the stub holds them (body, first figure, second figure).
STUB_PLACEHOLDERS = (
    "Deux ou trois phrases, 120 mots au plus.",
    "Un chiffre clé.",
    "Un autre chiffre clé.",
)
