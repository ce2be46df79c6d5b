"""The API's books: accounts, journal entries, reversals, the trial balance.

Every view declares its audience (`web.access`) and its OpenAPI description
(`web.api.docs`), reads its input through marshmallow schemas and runs exactly
one unit of work. A state change is a use case of `ledger.books`, which writes
its audit event in that same unit, so the event exists exactly when the
change does.

Money-moving POSTs (entries, reversals) need an `Idempotency-Key`
(`web.api.common.command_post`). The journal key is `api:<user id>:<header>`:
two callers choosing the same header value never meet, and a caller can never
replay or block another's request. A retry with the same body is answered
from the stored entry (200, `Idempotent-Replayed: true`, nothing written, no
audit event) and a different body is a 409 with no side effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.books import commands as books
from ledger.core.accounts import AccountView, get_account, list_accounts
from ledger.core.balances import TrialBalanceLine, balance, currency_totals, trial_balance
from ledger.core.journal import EntryView, get_entry, load_entries
from ledger.core.models import JournalEntry, Posting
from ledger.core.money import format_minor
from ledger.people.models import MONEY, READ
from web import views
from web.access import allow, needs_scope
from web.api.common import TREASURER, bp, command_post, json_answer
from web.api.docs import documented
from web.api.inputs import json_body, load, query
from web.books.reads import read_head
from web.books.schemas import (
    AccountCreateSchema,
    AccountDetailSchema,
    AccountListSchema,
    AccountSchema,
    EntryCreateSchema,
    EntryPageSchema,
    EntryQuerySchema,
    EntrySchema,
    ReversalCreateSchema,
    TrialBalanceQuerySchema,
    TrialBalanceSchema,
)
from web.db import in_transaction


def _account(view: AccountView) -> dict[str, Any]:
    return {
        "id": view.id,
        "code": view.code,
        "name": view.name,
        "type": view.type,
        "currency": view.currency,
        "no_overdraft": view.no_overdraft,
        "created_at": view.created_at,
    }


def _entry(view: EntryView, links: tuple[dict[str, int], dict[str, int]]) -> dict[str, Any]:
    sequence_of, reversed_by = links
    return {
        "id": view.id,
        "sequence": view.sequence,
        "idempotency_key": view.idempotency_key,
        "kind": view.kind,
        "effective_date": view.effective_on,
        "recorded_at": view.recorded_at,
        "actor": view.actor,
        "narration": view.narration,
        "metadata": view.metadata,
        "hash": view.hash,
        "reverses_sequence": sequence_of.get(view.reverses_entry_id or ""),
        "reversed_by_sequence": reversed_by.get(view.id),
        "postings": [
            {
                "leg": p.leg,
                "account": p.account,
                "amount": p.amount.amount_string(),
                "currency": p.amount.currency,
            }
            for p in view.postings
        ],
    }


def _reversal_links(
    session: Session, views: Iterable[EntryView]
) -> tuple[dict[str, int], dict[str, int]]:
    """Sequences of the entries `views` reverse, and of the entries reversing them."""
    entries = list(views)
    ids = [v.id for v in entries]
    targets = [v.reverses_entry_id for v in entries if v.reverses_entry_id]
    sequence_of: dict[str, int] = {}
    reversed_by: dict[str, int] = {}
    if targets:
        rows = session.execute(
            select(JournalEntry.id, JournalEntry.sequence).where(JournalEntry.id.in_(targets))
        )
        sequence_of = {row.id: int(row.sequence) for row in rows}
    if ids:
        rows = session.execute(
            select(JournalEntry.reverses_entry_id, JournalEntry.sequence).where(
                JournalEntry.reverses_entry_id.in_(ids)
            )
        )
        reversed_by = {row.reverses_entry_id: int(row.sequence) for row in rows}
    return sequence_of, reversed_by


def _entry_answer(session: Session, entry: EntryView) -> Mapping[str, Any]:
    return _entry(entry, _reversal_links(session, [entry]))


def _entry_location(body: Mapping[str, Any]) -> Mapping[str, str]:
    return {"Location": url_for("api_v1.get_entry_view", sequence=body["sequence"])}


# --------------------------------------------------------------------------- accounts
@bp.get("/accounts")
@allow(*TREASURER)
@needs_scope(READ)
@documented("List accounts", tag="accounts", responses={200: ("All accounts.", AccountListSchema)})
def list_accounts_view() -> ResponseReturnValue:
    """Every account of the chart, ordered by code."""
    accounts = views.read_once(list_accounts)
    return json_answer(AccountListSchema(), {"accounts": [_account(a) for a in accounts]})


@bp.post("/accounts")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Open an account",
    tag="accounts",
    body=AccountCreateSchema,
    responses={201: ("The new account, with a zero balance.", AccountSchema)},
    errors={409: "`account_exists`: the code is taken (codes are never reused)."},
)
def create_account_view() -> ResponseReturnValue:
    """Open an account with a hierarchical code, a type, a currency and flags."""
    data = load(AccountCreateSchema(), json_body())
    caller = views.origin()
    view = in_transaction(
        lambda session: (
            books.create_account(
                session,
                data["code"],
                data["type"],
                currency=data["currency"],
                no_overdraft=data["no_overdraft"],
                name=data["name"],
                origin=caller,
                clock=views.clock(),
            ).value
        )
    )
    location = url_for("api_v1.get_account_view", code=view.code)
    return json_answer(AccountSchema(), _account(view), 201, Location=location)


@bp.get("/accounts/<path:code>")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "One account and its balances",
    tag="accounts",
    responses={200: ("The account with posted, pending and available.", AccountDetailSchema)},
    errors={404: "`account_not_found`."},
)
def get_account_view(code: str) -> ResponseReturnValue:
    """An account and its balances in its normal orientation (posted, pending, available)."""
    found = views.read_once(lambda session: balance(session, code))
    currency = found.account.currency
    body = _account(found.account) | {
        "balance": {
            "posted": format_minor(found.posted, currency),
            "pending": format_minor(found.pending, currency),
            "available": format_minor(found.available, currency),
        }
    }
    return json_answer(AccountDetailSchema(), body)


# --------------------------------------------------------------------------- entries
@bp.get("/entries")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "List journal entries, newest first",
    tag="entries",
    query=EntryQuerySchema,
    responses={200: ("One page of entries.", EntryPageSchema)},
    errors={404: "`account_not_found`: the `account` filter names no account."},
)
def list_entries_view() -> ResponseReturnValue:
    """Entries by descending sequence; follow `next_before` for older pages."""
    args = query(EntryQuerySchema())
    limit: int = args["limit"]

    def read(session: Session) -> tuple[list[EntryView], bool, Any]:
        stmt = select(JournalEntry.id).order_by(JournalEntry.sequence.desc()).limit(limit + 1)
        if "before" in args:
            stmt = stmt.where(JournalEntry.sequence < args["before"])
        if "account" in args:
            account = get_account(session, args["account"])
            stmt = stmt.where(
                JournalEntry.id.in_(
                    select(Posting.entry_id).where(Posting.account_id == account.id)
                )
            )
        # One row more than the page tells whether an older page exists.
        ids = list(session.scalars(stmt))
        more = len(ids) > limit
        found = load_entries(session, ids[:limit])
        ordered = sorted(found.values(), key=lambda v: v.sequence, reverse=True)
        return ordered, more, _reversal_links(session, ordered)

    entries, more, links = views.read_once(read)
    return json_answer(
        EntryPageSchema(),
        {
            "entries": [_entry(v, links) for v in entries],
            "next_before": entries[-1].sequence if more and entries else None,
        },
    )


@bp.post("/entries")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Post a journal entry",
    tag="entries",
    body=EntryCreateSchema,
    idempotent=True,
    responses={201: ("The posted entry.", EntrySchema)},
    errors={
        404: "`account_not_found`: a posting names no account.",
        409: "`idempotency_conflict` (key reused with another body), `insufficient_funds` "
        "(a no-overdraft account would go below zero) or `period_closed`.",
        422: "`invalid_input` (with `details.fields`), `unbalanced_entry`, "
        "`currency_mismatch`, `personal_data_in_journal`, `invalid_entry`, or "
        "`idempotency_key_required`.",
    },
)
def post_entry_view() -> ResponseReturnValue:
    """Post one balanced entry: postings sum to zero per currency, debits positive."""
    return command_post(
        EntryCreateSchema(),
        lambda session, data, origin, key: books.post_entry(
            session,
            data["postings"],
            kind=data["kind"],
            effective_on=data["effective_date"],
            narration=data["narration"],
            metadata=data["metadata"],
            origin=origin,
            clock=views.clock(),
            key=key,
        ),
        _entry_answer,
        EntrySchema(),
        headers=_entry_location,
    )


@bp.get("/entries/<int:sequence>")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "One journal entry",
    tag="entries",
    responses={200: ("The entry.", EntrySchema)},
    errors={404: "`entry_not_found`."},
)
def get_entry_view(sequence: int) -> ResponseReturnValue:
    """The entry with this sequence number, its postings and its reversal links."""

    def read(session: Session) -> dict[str, Any]:
        view = get_entry(session, sequence=sequence)
        return _entry(view, _reversal_links(session, [view]))

    return json_answer(EntrySchema(), views.read_once(read))


@bp.post("/entries/<int:sequence>/reversal")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Reverse a journal entry",
    tag="entries",
    body=ReversalCreateSchema,
    body_required=False,
    idempotent=True,
    responses={201: ("The reversal entry.", EntrySchema)},
    errors={
        404: "`entry_not_found`.",
        409: "`already_reversed` (an entry is reversed at most once), "
        "`idempotency_conflict`, `insufficient_funds` or `period_closed`.",
    },
)
def reverse_entry_view(sequence: int) -> ResponseReturnValue:
    """Post the exact opposite of an entry, once; the body (narration, date) is optional."""
    return command_post(
        ReversalCreateSchema(),
        lambda session, data, origin, key: books.reverse_entry(
            session,
            sequence,
            narration=data["narration"],
            effective_on=data["effective_date"],
            origin=origin,
            clock=views.clock(),
            key=key,
        ),
        _entry_answer,
        EntrySchema(),
        headers=lambda body: {
            "Location": url_for("api_v1.get_entry_view", sequence=body["sequence"])
        },
        body_required=False,
    )


# --------------------------------------------------------------------------- trial balance
@bp.get("/trial-balance")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "Trial balance with the journal head",
    tag="reports",
    query=TrialBalanceQuerySchema,
    responses={200: ("Every account's net balance, totals per currency.", TrialBalanceSchema)},
)
def trial_balance_view() -> ResponseReturnValue:
    """Each account's net posted balance as debit or credit, read in one snapshot
    with the journal head (last sequence and hash) it belongs to."""
    as_of = query(TrialBalanceQuerySchema()).get("as_of")

    def read(session: Session) -> dict[str, Any]:
        lines = trial_balance(session, as_of)
        head = read_head(session)
        return {
            "as_of": as_of,
            "head": {
                "last_sequence": head.last_sequence,
                "last_hash": head.last_hash,
                "last_recorded_at": head.last_recorded_at,
            },
            "lines": [
                {
                    "account": line.account.code,
                    "name": line.account.name,
                    "type": line.account.type,
                    "currency": line.account.currency,
                    "debit": format_minor(line.debit, line.account.currency),
                    "credit": format_minor(line.credit, line.account.currency),
                }
                for line in lines
            ],
            "totals": _totals(lines),
        }

    return json_answer(TrialBalanceSchema(), views.read_once(read))


def _totals(lines: Sequence[TrialBalanceLine]) -> list[dict[str, Any]]:
    return [
        {
            "currency": total.currency,
            "debit": format_minor(total.debit, total.currency),
            "credit": format_minor(total.credit, total.currency),
            "balanced": total.balanced,
        }
        for total in currency_totals(lines)
    ]
