"""Subscriber CSV files as the spreadsheets write them."""

from __future__ import annotations


EXCEL_FR = (
    "Adresse e-mail;Prénom;Nom;Date d'inscription\r\n"
    "helene.dubois@example.org;Hélène;Dubois;14/03/2026\r\n"
    "\r\n"
    "Francoise.Petit@Example.ORG;Françoise;Petit;2026-03-15 09:30\r\n"
    "jean.dupont@;Jean;Dupont;\r\n"
    "francoise.petit@example.org;=HYPERLINK(\"http://x\");Petit;\r\n"
    "=1+1;Eve;;\r\n"
    ";Sans;Adresse;\r\n"
    "date@example.org;Dora;;31/02/2026\r\n"
).encode("cp1252")
