"""What every page and API view uses: reads, the caller, the request's origin, form keys.

A view reads as: parse the input, call the use case, answer. The helpers here
are the parts every view shares, so no area module writes them again:

- `read_once` (the request's read-only unit of work, rows usable afterwards)
  and `snapshot` (a read before the unit of work: form choices, currencies);
- `principal` (the signed-in caller of a view that admits no anonymous visitor)
  and `origin` (who acts, through which channel, from which address);
- `today` and `clock` (the ledger's clock, Europe/Rome business date) and
  `secret_box` (the keys TOTP secrets are sealed under);
- `today` and `clock` (the ledger's clock, Europe/Rome business date);
- `external_url` (an absolute link for another party to follow: Stripe's return
  URLs, links in e-mail), which starts with LEDGER_BASE_URL, never with the
  Host header of the request that happens to make it;
- `form_key` (the key a money form carries from the moment it was shown, so a
  double submit is one request) and `form_action` (run a use case from a
  form: flash its message and redirect, or show the form again with the
  domain's refusal attached, status 422).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.commands import Origin
from ledger.core.clock import Clock, rome_today
from ledger.core.errors import LedgerError
from ledger.core.sealing import SecretBox
from web.access import Principal, current_principal, request_origin
from web.db import current_ledger, in_transaction
from web.forms import field_error

T = TypeVar("T")


def detached(work: Callable[[Session], T]) -> Callable[[Session], T]:
    """`work`, with the rows it returns detached from the session (usable after it)."""

    def run(db: Session) -> T:
        result = work(db)
        db.expunge_all()
        return result

    return run


def read_once(work: Callable[[Session], T]) -> T:
    """This request's unit of work, read-only, with its rows usable afterwards."""
    return in_transaction(detached(work), read_only=True)


def snapshot(work: Callable[[Session], T]) -> T:
    """A read in its own snapshot before the request's unit of work (form choices)."""
    return current_ledger().read(detached(work))


def clock() -> Clock:
    """The ledger's clock (a fixed one in tests)."""
    return current_ledger().clock


def secret_box() -> SecretBox:
    """The keys users' TOTP secrets are sealed under (LEDGER_TOTP_KEY)."""
    return current_ledger().require_secret_box()


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL of `endpoint` on this site: LEDGER_BASE_URL (the development
    server when unset) and the path, whatever Host the request claimed."""
    from web.mail import base_url

    return base_url(current_app) + url_for(endpoint, **values)


def today() -> date:
    """Today in Europe/Rome by the ledger's clock."""
    return rome_today(current_ledger().clock)


def principal() -> Principal:
    """The caller of a view whose access declaration admits no anonymous visitor."""
    found = current_principal()
    if found is None:
        raise RuntimeError("a view that needs a caller was reached without one")
    return found


def origin() -> Origin:
    """Who acts in this request, through which channel (web or api), from which address."""
    return request_origin()


def form_key(form: Any) -> str:
    """The request key a form carries (made when it was first shown)."""
    if not form.form_key.data:
        form.form_key.data = uuid.uuid4().hex
    return str(form.form_key.data)[:64]


def form_action(
    form: Any,
    act: Callable[[Session], str],
    *,
    done: str,
    again: Callable[[], ResponseReturnValue],
    attach: Callable[[Any, LedgerError], None] = field_error,
) -> ResponseReturnValue:
    """Run `act` (a use case returning the message to flash) when `form` validates.

    On success: flash the message and redirect to `done`. On a domain refusal:
    attach it to the form and answer `again()` with status 422; a GET goes to
    `done`. Nothing is written by a refused act (one unit of work).
    """
    if form.validate_on_submit():
        try:
            message = in_transaction(act)
        except LedgerError as exc:
            attach(form, exc)
        else:
            flash(message, "success")
            return redirect(done)
    elif request.method == "GET":
        return redirect(done)
    answer = again()
    if isinstance(answer, tuple):
        return answer
    return answer, 422
