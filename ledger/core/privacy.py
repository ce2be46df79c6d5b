"""Keep personal data out of the journal.

The journal is immutable and published in hash-chained statements, so a name,
an e-mail address, a codice fiscale or an IBAN written into a narration or into
metadata could never be erased. Parties are referred to by id; the identity
lives in its own tables. This guard refuses the obvious cases: metadata keys
that name personal data, and values shaped like an e-mail address, an Italian
codice fiscale or an IBAN. It cannot catch a bare name in free text; callers
build narrations from ids, not from people's names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ledger.core.errors import InvalidEntryError, PersonalDataError

PERSONAL_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "surname",
        "nome",
        "cognome",
        "email",
        "e_mail",
        "mail",
        "phone",
        "telefono",
        "address",
        "indirizzo",
        "codice_fiscale",
        "fiscal_code",
        "tax_code",
        "cf",
        "iban",
        "birth_date",
        "data_di_nascita",
    }
)
ACTOR_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$", re.ASCII)
_PATTERNS = {
    "an e-mail address": re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}"),
    "a codice fiscale": re.compile(
        r"\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z]"
        r"[0-9LMNPQRSTUV]{3}[A-Z]\b",
        re.IGNORECASE,
    ),
    # RF creditor references (RF + 2 check digits) are payment references, not accounts.
    "an IBAN": re.compile(r"\b(?!RF)[A-Z]{2}[0-9]{2}(?:\s?[A-Z0-9]){11,30}\b"),
}


def refuse_personal_text(text: str, where: str) -> None:
    """Raise PersonalDataError if `text` contains something shaped like personal data."""
    for label, pattern in _PATTERNS.items():
        if pattern.search(text):
            raise PersonalDataError(
                f"{where} contains {label}; the journal refers to people by id only",
                field=where,
            )


def refuse_personal_metadata(metadata: Mapping[str, Any]) -> None:
    for key, value in metadata.items():
        if key.lower() in PERSONAL_KEYS:
            raise PersonalDataError(
                f"metadata key {key!r} names personal data; store a party id instead",
                field=key,
            )
        if isinstance(value, str):
            refuse_personal_text(value, f"metadata {key!r}")


def check_actor(actor: str | None) -> str | None:
    """An actor is an id ("user:42", "cli", "stripe-webhook"), never a person's name or e-mail."""
    if actor is None:
        return None
    if not isinstance(actor, str) or not ACTOR_PATTERN.match(actor):
        raise InvalidEntryError(
            "actor must be an id of at most 255 letters, digits and '_.:-' (e.g. 'user:42')"
        )
    refuse_personal_text(actor, "actor")
    return actor
