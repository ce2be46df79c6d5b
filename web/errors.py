"""The one place where errors become HTTP responses.

Domain errors (`ledger.core.errors.LedgerError`) carry their own status and a
stable `code`; HTTP errors (404, 405, ...) get a code from `HTTP_CODES`. A
request under `/api/`, or one that prefers JSON to HTML, gets the envelope
`{"error": {"code", "message", "details"}}`; a browser gets a page in the
visitor's language (Italian unless they chose English).
Bad input is always a 4xx: a view that cannot accept its input raises
`InvalidInputError` (422) instead of letting a parser's exception become a 500.
A database that cannot be reached is a 503, not a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from ledger.core.errors import LedgerError

# Stable codes for HTTP-level errors; part of the API contract like domain codes.
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}

# Page titles and explanations for people, in the page's language (Italian source
# strings, translated when the page is rendered). JSON clients never see these.
PAGE_TITLES: dict[int, LazyString] = {
    400: _l("Richiesta non valida"),
    401: _l("Accesso richiesto"),
    403: _l("Accesso negato"),
    404: _l("Pagina non trovata"),
    405: _l("Metodo non consentito"),
    406: _l("Formato non disponibile"),
    409: _l("Operazione in conflitto"),
    413: _l("Richiesta troppo grande"),
    415: _l("Formato dei dati non supportato"),
    422: _l("Dati non validi"),
    429: _l("Troppe richieste"),
    500: _l("Errore interno"),
    503: _l("Servizio non disponibile"),
}
DEFAULT_PAGE_TITLE = _l("Errore")

PAGE_MESSAGES: dict[int, LazyString] = {
    400: _l("La richiesta non è stata compresa."),
    401: _l("Per vedere questa pagina occorre accedere."),
    403: _l("Non hai i permessi per questa pagina."),
    404: _l("L'indirizzo richiesto non esiste. Controlla il link o torna alla pagina iniziale."),
    405: _l("Questo indirizzo non accetta il metodo usato."),
    406: _l("Questa pagina non è disponibile nel formato richiesto."),
    409: _l("L'operazione è in conflitto con lo stato attuale dei dati: ricarica la pagina."),
    413: _l("I dati inviati superano la dimensione consentita."),
    415: _l("Il formato dei dati inviati non è supportato."),
    422: _l("I dati inviati non sono validi."),
    429: _l("Hai inviato troppe richieste: riprova tra poco."),
    500: _l(
        "Si è verificato un errore imprevisto. Riprova più tardi; se il problema continua, "
        "segnalalo a chi amministra il registro."
    ),
    503: _l("Il database non è raggiungibile in questo momento. Riprova più tardi."),
}

# English messages for the JSON envelope of HTTP errors (API clients are programs).
MESSAGES_EN: dict[int, str] = {
    404: "no such resource",
    405: "method not allowed on this resource",
    500: "internal error",
    503: "the database cannot be reached",
}


class InvalidInputError(LedgerError):
    """Input a view cannot accept (a malformed date, a missing field): 422.

    `message` is shown to the person who sent it, so views write it in Italian
    through gettext (it is translated like any page text) and say what a valid
    value looks like.
    """

    code = "invalid_input"
    http_status = 422


def wants_json() -> bool:
    """True for API paths and for clients that prefer JSON over HTML."""
    if request.path.startswith("/api/"):
        return True
    accept = request.accept_mimetypes
    best = accept.best_match(["text/html", "application/json"])
    return best == "application/json" and accept["application/json"] > accept["text/html"]


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    page_message: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build the JSON envelope or the HTML page for one error."""
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    else:
        response = Response(
            render_template(
                "error.html",
                status=status,
                code=code,
                title=str(PAGE_TITLES.get(status, DEFAULT_PAGE_TITLE)),
                message=page_message or message,
            ),
            mimetype="text/html",
        )
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _ledger_error(exc: LedgerError) -> Response:
    status = int(getattr(exc, "http_status", 422))
    if status >= 500:
        # The server's fault (a key that opens no secret): the operator must hear of it.
        current_app.logger.error("%s: %s", exc.code, exc.message)
    return error_response(status, exc.code, exc.message, dict(exc.details))


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = HTTP_CODES.get(status, f"http_{status}")
    message = MESSAGES_EN.get(status) or (exc.description or exc.name)
    details: dict[str, Any] = {}
    headers: dict[str, str] = {}
    # Keep protocol headers such as Allow (405) and Retry-After, not the body's type.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            headers[name] = value
    if status == 405 and "Allow" in headers:
        details["allowed"] = [m.strip() for m in headers["Allow"].split(",")]
    if isinstance(exc, InternalServerError):
        # Never leak the original exception's text; Flask has logged it.
        details = {}
    return error_response(
        status, code, message, details, page_message=_page_message(status), headers=headers
    )


def _page_message(status: int) -> str | None:
    text = PAGE_MESSAGES.get(status)
    return str(text) if text is not None else None


def _database_unavailable(exc: OperationalError) -> Response:
    current_app.logger.error("database unavailable: %s", type(exc.orig).__name__, exc_info=exc)
    return _http_error(ServiceUnavailable())


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on `app` (called once by create_app)."""
    app.register_error_handler(LedgerError, _ledger_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_unavailable)
