"""Read-only views of the books: the trial balance (bilancio di verifica) and /healthz.

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
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from ledger.core.accounts import list_accounts
from ledger.core.balances import (
    CurrencyTotal,
    TrialBalanceLine,
    currency_totals,
    trial_balance,
)
from ledger.core.chain import GENESIS_HASH
from ledger.core.errors import InvalidAmountError, LedgerError
from ledger.core.journal import EntrySpec, PostingSpec, PostResult, post_entry
from ledger.core.models import LedgerHead
from ledger.core.money import Money
from web.access import allow, audit, current_principal, public
from web.db import current_ledger, in_transaction, ping
from web.errors import InvalidInputError
from web.forms import EntryForm, field_error

bp = Blueprint("books", __name__)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class JournalHead:
    """The end of the journal: last sequence number and hash-chain head."""

    last_sequence: int
    last_hash: str
    last_recorded_at: datetime | None

    @property
    def is_empty(self) -> bool:
        return self.last_sequence == 0 and self.last_hash == GENESIS_HASH


def read_head(session: Session) -> JournalHead:
    """Read the single `ledger_heads` row without locking it."""
    row = session.execute(
        select(LedgerHead.last_sequence, LedgerHead.last_hash, LedgerHead.last_recorded_at).where(
            LedgerHead.id == 1
        )
    ).one()
    return JournalHead(int(row.last_sequence), row.last_hash, row.last_recorded_at)


@dataclass(slots=True)
class TrialBalance:
    lines: list[TrialBalanceLine]
    head: JournalHead
    as_of: date | None
    totals: list[CurrencyTotal] = field(default_factory=list)


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

    book = in_transaction(read, read_only=True)
    book.totals = currency_totals(book.lines)
    return render_template("trial_balance.html", book=book)


@bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """Liveness and database reachability, for load balancers and monitors."""
    try:
        ping(current_ledger().engine)
    except Exception as exc:  # any failure to answer means "not ready", never a 500
        current_app.logger.warning("health check: database unreachable (%s)", type(exc).__name__)
        return jsonify({"status": "degraded", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})


# ------------------------------------------------------------------ manual entries
_ITALIAN_AMOUNT = re.compile(r"^\d{1,3}(\.\d{3})+(,\d+)?$")


def parse_amount_text(text: str, currency: str) -> Money:
    """A positive amount typed by a person: "12,50", "12.50" or "1.234,56".

    A comma is the decimal separator; a dot is one too unless it groups
    thousands ("1.234,56"). Floats never appear: the text goes to Money.parse.
    """
    value = "".join(text.split())
    if _ITALIAN_AMOUNT.match(value):
        value = value.replace(".", "")
    value = value.replace(",", ".")
    try:
        money = Money.parse(value, currency)
    except InvalidAmountError:
        raise InvalidInputError(
            _("Importo non valido: usa al massimo due decimali, per esempio 12,50."),
            field="amount",
        ) from None
    if money.minor <= 0:
        raise InvalidAmountError(_("L'importo deve essere maggiore di zero."), field="amount")
    return money


@bp.route("/contabilita/registrazioni/nuova", methods=["GET", "POST"])
@allow("treasurer", two_factor=True)
def new_entry() -> ResponseReturnValue:
    """A manual entry between two accounts of the same currency (treasurers, with 2FA).

    The form carries a key made when it was shown, so a double click or a
    resubmitted page posts the entry once (the engine's idempotency, I4).
    """
    principal = current_principal()
    assert principal is not None
    # The choices are read in their own snapshot, like the signed-in user: the
    # request's one unit of work is the write.
    accounts = current_ledger().read(list_accounts)
    form = EntryForm()
    choices = [SelectChoice(a.code, f"{a.code} ({a.currency})") for a in accounts]
    form.debit_account.choices = choices
    form.credit_account.choices = choices
    if not form.form_key.data:
        form.form_key.data = uuid.uuid4().hex
    if form.validate_on_submit():
        by_code = {a.code: a for a in accounts}
        debit, credit = by_code[form.debit_account.data], by_code[form.credit_account.data]
        try:
            if debit.code == credit.code:
                raise InvalidInputError(
                    _("I due conti devono essere diversi."), field="credit_account"
                )
            if debit.currency != credit.currency:
                raise InvalidInputError(
                    _("I due conti hanno valute diverse."), field="credit_account"
                )
            amount = parse_amount_text(form.amount.data or "", debit.currency)
            spec = EntrySpec(
                idempotency_key=f"web:{principal.user_id}:{form.form_key.data}",
                kind="manual",
                postings=[PostingSpec(debit.code, amount), PostingSpec(credit.code, -amount)],
                effective_on=form.effective_on.data,
                narration=(form.narration.data or "").strip(),
                actor=f"user:{principal.user_id}",
            )

            def work(db: Session) -> PostResult:
                result = post_entry(db, spec, clock=current_ledger().clock)
                if result.created:
                    audit(
                        db,
                        "entry.post",
                        subject_type="entry",
                        subject_id=result.entry.sequence,
                        details={"kind": "manual"},
                    )
                return result

            result = in_transaction(work)
        except LedgerError as exc:
            field_error(form, exc)
        else:
            flash(_("Registrazione n. %(n)d contabilizzata.", n=result.entry.sequence), "success")
            return redirect(url_for("books.trial_balance_page"))
    status = 422 if form.is_submitted() else 200
    return render_template("new_entry.html", form=form, has_accounts=bool(accounts)), status
