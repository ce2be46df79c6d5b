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
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import Blueprint, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.balances import TrialBalanceLine, trial_balance
from ledger.core.chain import GENESIS_HASH
from ledger.core.models import LedgerHead
from web.access import allow, public
from web.db import current_ledger, in_transaction, ping
from web.errors import InvalidInputError

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
class CurrencyTotal:
    """Debit and credit column totals of one currency, in minor units."""

    currency: str
    debit: int = 0
    credit: int = 0

    @property
    def balanced(self) -> bool:
        return self.debit == self.credit


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
            f"La data «{value[:40]}» non è valida: indica una data esistente nel formato "
            "AAAA-MM-GG, per esempio 2026-06-30.",
            field="as_of",
            value=value[:40],
        ) from None


def _totals(lines: list[TrialBalanceLine]) -> list[CurrencyTotal]:
    by_currency: dict[str, CurrencyTotal] = defaultdict(lambda: CurrencyTotal(""))
    for line in lines:
        total = by_currency[line.account.currency]
        total.currency = line.account.currency
        total.debit += line.debit
        total.credit += line.credit
    return [by_currency[c] for c in sorted(by_currency)]


@bp.get("/contabilita/bilancio")
@allow("treasurer", "admin")
def trial_balance_page() -> ResponseReturnValue:
    """Bilancio di verifica: every account's net balance, optionally as of a date."""
    as_of = parse_as_of(request.args.get("as_of"))

    def read(session: Session) -> TrialBalance:
        lines = trial_balance(session, as_of)
        return TrialBalance(lines=lines, head=read_head(session), as_of=as_of)

    book = in_transaction(read, read_only=True)
    book.totals = _totals(book.lines)
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
