"""Pages of the books: the trial balance (bilancio di verifica), a manual entry.

The trial balance lists every account's net posted balance in the debit (dare)
or credit (avere) column, with totals per currency: when the books are sound
the two totals of each currency are equal (I1, I7). It is shown next to the
journal's head (last sequence and hash-chain head) read in the same snapshot,
so a reader can tell which state of the journal the figures belong to. The
head is read from `ledger_heads`; the full `verify` is far too costly to run
per request and is the CLI's job.
"""

from __future__ import annotations

import re
from datetime import date

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from ledger.books import commands as books
from ledger.core.accounts import AccountView, list_accounts
from ledger.core.balances import currency_totals, trial_balance
from ledger.core.errors import LedgerError
from ledger.core.journal import PostingSpec
from web import views
from web.access import allow
from web.amounts import parse_amount_text
from web.books.forms import EntryForm
from web.books.reads import TrialBalance, read_head
from web.db import in_transaction
from web.errors import InvalidInputError
from web.forms import field_error

bp = Blueprint("books", __name__)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_as_of(raw: str | None) -> date | None:
    """The `as_of` query parameter: absent or empty means today's balances.

    Only YYYY-MM-DD is accepted (Python would also take 20260630 or 2026-W26),
    so that a link means the same day to every reader.
    """
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    try:
        if not _ISO_DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            _(
                "La data «%(value)s» non è valida: indica una data esistente nel formato "
                "AAAA-MM-GG, per esempio 2026-06-30.",
                value=value[:40],
            ),
            field="as_of",
            value=value[:40],
        ) from None


@bp.get("/contabilita/bilancio")
@allow("treasurer", "admin")
def trial_balance_page() -> ResponseReturnValue:
    """Bilancio di verifica: every account's net balance, optionally as of a date."""
    as_of = parse_as_of(request.args.get("as_of"))

    def read(session: Session) -> TrialBalance:
        lines = trial_balance(session, as_of)
        return TrialBalance(lines=lines, head=read_head(session), as_of=as_of)

    book = views.read_once(read)
    book.totals = currency_totals(book.lines)
    return render_template("trial_balance.html", book=book)


# ------------------------------------------------------------------ manual entries
@bp.route("/contabilita/registrazioni/nuova", methods=["GET", "POST"])
@allow("treasurer", two_factor=True)
def new_entry() -> ResponseReturnValue:
    """A manual entry between two accounts of the same currency (treasurers, with 2FA).

    The form carries a key made when it was shown, so a double click or a
    resubmitted page posts the entry once.
    """
    # The choices are read in their own snapshot, like the signed-in user: the
    # request's one unit of work is the write.
    accounts = views.snapshot(list_accounts)
    form = EntryForm()
    choices = [SelectChoice(a.code, f"{a.code} ({a.currency})") for a in accounts]
    form.debit_account.choices = choices
    form.credit_account.choices = choices
    by_code = {a.code: a for a in accounts}
    key = views.form_key(form)
    if form.validate_on_submit():
        try:
            postings = _two_legs(
                by_code[form.debit_account.data],
                by_code[form.credit_account.data],
                form.amount.data or "",
            )
            entry = in_transaction(
                lambda db: (
                    books.post_entry(
                        db,
                        postings,
                        kind="manual",
                        effective_on=form.effective_on.data,
                        narration=(form.narration.data or "").strip(),
                        origin=views.origin(),
                        clock=views.clock(),
                        key=key,
                    ).value
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
        else:
            flash(_("Registrazione n. %(n)d contabilizzata.", n=entry.sequence), "success")
            return redirect(url_for("books.trial_balance_page"))
    status = 422 if form.is_submitted() else 200
    return render_template("new_entry.html", form=form, has_accounts=bool(accounts)), status


def _two_legs(debit: AccountView, credit: AccountView, amount_text: str) -> list[PostingSpec]:
    """The entry's two postings from the form: two accounts of one currency, an amount."""
    if debit.code == credit.code:
        raise InvalidInputError(_("I due conti devono essere diversi."), field="credit_account")
    if debit.currency != credit.currency:
        raise InvalidInputError(_("I due conti hanno valute diverse."), field="credit_account")
    amount = parse_amount_text(amount_text, debit.currency)
    return [PostingSpec(debit.code, amount), PostingSpec(credit.code, -amount)]
