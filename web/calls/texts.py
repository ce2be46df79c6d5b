"""Texts of the pages of calls for ideas: states and kinds by name, and the domain's refusals.

The domain's own messages are Italian; a page shows its refusals in the page's
language through `ERROR_TEXT` (by code) and `FIELD_TEXT` (by code and field),
falling back to the domain's message. The four functions at the bottom are
template globals (registered by `web.calls.register`).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from ledger.core.errors import LedgerError
from web.i18n import error_text

STATUS_TEXT: dict[str, Any] = {
    "draft": _l("bozza"),
    "submitted": _l("inviata"),
    "withdrawn": _l("ritirata"),
    "screened_out": _l("non ammessa"),
    "in_review": _l("in valutazione"),
    "awarded": _l("contributo proposto"),
    "approved": _l("contributo approvato"),
    "rejected": _l("non finanziata"),
    "disbursing": _l("in erogazione"),
    "closed": _l("conclusa"),
}
KIND_TEXT: dict[str, Any] = {
    "grant": _l("contributo a fondo perduto"),
    "loan": _l("prestito"),
    "either": _l("contributo o prestito"),
}
TRANCHE_TEXT: dict[str, Any] = {
    "planned": _l("prevista"),
    "approved": _l("approvata"),
    "paid": _l("pagata"),
    "released": _l("non erogata, tornata al fondo"),
}
AWARD_TEXT: dict[str, Any] = {
    "proposed": _l("proposto, in attesa di approvazione"),
    "approved": _l("approvato"),
    "refused": _l("proposta non approvata"),
    "closed": _l("chiuso"),
}
# Refusals of the domain, in the page's language (the domain's own text is Italian).
ERROR_TEXT: dict[str, Any] = {
    "call_closed": _l(
        "Il bando non è aperto in questo momento: la candidatura non può essere inviata."
    ),
    "application_state": _l("L'operazione non è possibile nello stato attuale della candidatura."),
    "not_on_committee": _l("Non fai parte della commissione di questo bando."),
    "conflict_of_interest": _l(
        "Con un conflitto di interessi dichiarato (o senza dichiarazione) non puoi valutare "
        "questa candidatura."
    ),
    "four_eyes": _l(
        "Serve una seconda persona: chi ha proposto (o approvato) non può anche approvare "
        "(o pagare)."
    ),
    "call_budget_exceeded": _l("L'importo supera quanto resta del budget del bando."),
    "fund_insufficient": _l("Il fondo non ha abbastanza denaro disponibile per questo impegno."),
    "milestone_report_missing": _l(
        "Manca la relazione del proponente sulla tappa precedente: la tranche attende."
    ),
    "tranche_state": _l("L'operazione non è possibile nello stato attuale della tranche."),
    "award_state": _l("L'operazione non è possibile nello stato attuale del contributo."),
}
# Refusals that name a field, by (code, field).
FIELD_TEXT: dict[tuple[str, str], Any] = {
    ("invalid_application", "title"): _l(
        "Il titolo dell'idea è obbligatorio (massimo 200 caratteri)."
    ),
    ("invalid_application", "summary"): _l(
        "La descrizione dell'idea è obbligatoria (massimo 10.000 caratteri)."
    ),
    ("invalid_application", "requested"): _l(
        "L'importo richiesto deve essere positivo e non superare il contributo massimo del bando."
    ),
    ("invalid_application", "kind"): _l("Questo bando non concede questa forma di sostegno."),
    ("invalid_application", "answers"): _l(
        "Rispondi a tutte le domande di ammissibilità prima di inviare."
    ),
    ("invalid_award", "amount"): _l(
        "L'importo deve essere positivo e non superare il contributo massimo del bando."
    ),
    ("invalid_award", "kind"): _l("Questo bando non concede questa forma di sostegno."),
    ("invalid_award", "tranches"): _l(
        "Le tranche sono importi positivi, ciascuno con la sua tappa, e sommano all'importo."
    ),
    ("invalid_award", "term_months"): _l(
        "Per un prestito indica la durata in mesi e una prima scadenza futura."
    ),
    ("invalid_award", "first_due_on"): _l(
        "Per un prestito indica la durata in mesi e una prima scadenza futura."
    ),
    ("invalid_award", "report"): _l("La relazione è obbligatoria (massimo 10.000 caratteri)."),
    ("invalid_review", "scores"): _l("Dai a ogni criterio un punteggio intero da 0 a 10."),
}


OWN_APPLICATION = _l(
    "Sei il proponente di questa candidatura: dichiara il conflitto di interessi; "
    "non puoi valutarla."
)


def error_message(exc: LedgerError) -> str:
    """A domain refusal as the page shows it, in the page's language where known."""
    if exc.code == "conflict_of_interest" and exc.details.get("proponent"):
        return str(OWN_APPLICATION)
    field = str(exc.details.get("field", ""))
    text = FIELD_TEXT.get((exc.code, field)) or ERROR_TEXT.get(exc.code)
    return str(text) if text is not None else error_text(exc.code, field, exc.message)


def application_status(status: str) -> str:
    """An application's state as the page names it."""
    return str(STATUS_TEXT.get(status, status))


def award_kind_name(kind: str) -> str:
    """A kind of support (grant, loan, either) as the page names it."""
    return str(KIND_TEXT.get(kind, kind))


def tranche_status(status: str) -> str:
    """A tranche's state as the page names it."""
    return str(TRANCHE_TEXT.get(status, status))


def award_status(status: str) -> str:
    """An award's state as the page names it."""
    return str(AWARD_TEXT.get(status, status))


TEMPLATE_GLOBALS = (application_status, award_kind_name, tranche_status, award_status)
