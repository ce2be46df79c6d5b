"""Matching-grant commitments in the JSON API (routes on the `api_v1` blueprint).

A foundation officer creates, reads and cancels the commitments of the
foundations they act for; another foundation's commitment is a 404 to them.
Treasurers and admins read every commitment. Creating and cancelling move the
foundation's money states, so both take an `Idempotency-Key` and call the use
cases of `ledger.grants.commands` through `command_post`: a replay answers 200
with `Idempotent-Replayed: true`, and the same key with another request is a
409 that writes nothing. The public reads what a campaign's matching adds
(`/campaigns/{id}/matching`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Response, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns.errors import CampaignNotFoundError
from ledger.campaigns.service import get_campaign
from ledger.commands import Origin, Outcome
from ledger.core.journal import load_entries
from ledger.core.models import JournalEntry
from ledger.core.money import Money, format_minor
from ledger.grants import commands, queries
from ledger.grants.errors import CommitmentNotFoundError, FoundationNotFoundError
from ledger.grants.getters import get_commitment
from ledger.grants.models import Commitment, Foundation
from ledger.grants.service import CommitmentSpec, foundations_of, list_commitments
from ledger.people.models import MONEY, READ, User
from ledger.statements import grants as statements
from ledger.statements.grants_pdf import render_grant_statement_pdf
from web import views
from web.access import Principal, allow, current_principal, needs_scope, public
from web.api.common import bp, command_post, json_answer
from web.api.docs import documented
from web.api.errors import invalid_input
from web.api.inputs import load, parse_money
from web.db import in_transaction
from web.grants.schemas import (
    AMOUNT_FIELDS,
    CommitmentCreateSchema,
    CommitmentListSchema,
    CommitmentSchema,
    GrantEntryListSchema,
    QuoteQuerySchema,
    QuoteSchema,
    StatementQuerySchema,
)

OFFICER = "foundation_officer"
READERS = (OFFICER, "treasurer", "admin")


def _scope(session: Session, principal: Principal) -> set[int] | None:
    """The foundations the caller may see: None for all (treasurers, admins)."""
    if {"treasurer", "admin"} & principal.roles:
        return None
    return set(foundations_of(session, principal.user_id))


def _visible(session: Session, principal: Principal, commitment_id: int) -> Commitment:
    row = get_commitment(session, commitment_id)
    scope = _scope(session, principal)
    if scope is not None and row.foundation_id not in scope:
        # Not "forbidden": another foundation's commitments do not exist for this caller.
        raise CommitmentNotFoundError(
            f"nessun impegno con id {commitment_id}", commitment_id=commitment_id
        )
    return row


def _rule(row: Commitment) -> dict[str, Any]:
    money = {
        "min_gift": row.min_gift_minor,
        "max_gift": row.max_gift_minor,
        "donor_cap": row.donor_cap_minor,
        "campaign_cap": row.campaign_cap_minor,
        "threshold": row.threshold_minor,
        "topup": row.topup_minor,
        "topup_cap": row.topup_cap_minor,
        "bonus_cap": row.bonus_cap_minor,
    }
    rule: dict[str, Any] = {
        name: format_minor(value, row.currency) for name, value in money.items() if value
    }
    for name in ("ratio", "threshold_share", "topup_share", "topup_policy", "bonus_share"):
        if getattr(row, name) is not None:
            rule[name] = getattr(row, name)
    if row.methods:
        rule["methods"] = row.methods.split(",")
    if row.min_donors:
        rule["min_donors"] = row.min_donors
    return rule


def commitment_body(session: Session, row: Commitment) -> dict[str, Any]:
    states = queries.commitment_states(session, row.id)
    foundation = session.get(Foundation, row.foundation_id)
    cur = row.currency
    campaigns = []
    for figure_row in queries.allocations_of(session, row.id):
        campaigns.append(
            {
                "campaign_id": figure_row.campaign_id,
                "status": figure_row.status,
                "matched": format_minor(figure_row.matched_minor, cur),
                "reserved": format_minor(figure_row.reserved_minor, cur),
                "released": format_minor(figure_row.released_minor, cur),
                "disbursed": format_minor(figure_row.disbursed_minor, cur),
                "clawback_due": format_minor(figure_row.clawback_due_minor, cur),
                "raised": format_minor(figure_row.raised_minor, cur),
                "donors": figure_row.donors,
            }
        )
    return {
        "id": row.id,
        "foundation_id": row.foundation_id,
        "foundation": foundation.name if foundation else "",
        "title": row.title,
        "kind": row.kind,
        "status": row.status,
        "campaign_id": row.campaign_id,
        "call_id": row.call_id,
        "currency": cur,
        "pool": format_minor(row.pool_minor, cur),
        "count": "net" if row.count_net else "gross",
        "clawback_policy": row.clawback_policy,
        "window_start": row.window_start,
        "window_end": row.window_end,
        "rule": _rule(row),
        "states": {
            name: format_minor(getattr(states, name), cur)
            for name in (
                "word",
                "pledged",
                "reserved",
                "earned",
                "released",
                "disbursed",
                "clawback_due",
            )
        },
        "campaigns": campaigns,
        "created_at": row.created_at,
        "cancelled_at": row.cancelled_at,
    }


def _spec(data: dict[str, Any]) -> CommitmentSpec:
    currency = data["currency"]

    def minor(name: str) -> int | None:
        value = data.get(name)
        return None if value is None else Money.parse(value, currency).minor

    amounts = {name: minor(name) for name in AMOUNT_FIELDS}
    pool = amounts["pool"]
    assert pool is not None
    return CommitmentSpec(
        foundation_id=data["foundation_id"],
        title=data["title"],
        kind=data["kind"],
        pool_minor=pool,
        window_start=data["window_start"],
        window_end=data["window_end"],
        campaign_id=data["campaign_id"],
        call_id=data["call_id"],
        currency=currency,
        count_net=data["count"] == "net",
        clawback_policy=data["clawback_policy"],
        ratio=data["ratio"],
        methods=tuple(data["methods"]),
        min_gift_minor=amounts["min_gift"],
        max_gift_minor=amounts["max_gift"],
        donor_cap_minor=amounts["donor_cap"],
        campaign_cap_minor=amounts["campaign_cap"],
        threshold_minor=amounts["threshold"],
        threshold_share=data["threshold_share"],
        topup_minor=amounts["topup"],
        topup_share=data["topup_share"],
        topup_policy=data["topup_policy"] if data["kind"] == "threshold" else None,
        topup_cap_minor=amounts["topup_cap"],
        min_donors=data["min_donors"],
        bonus_share=data["bonus_share"],
        bonus_cap_minor=amounts["bonus_cap"],
    )


@bp.get("/grants")
@allow(*READERS)
@needs_scope(READ)
@documented(
    "Matching-grant commitments",
    tag="grants",
    responses={200: ("The commitments the caller may see.", CommitmentListSchema)},
)
def list_grants_view() -> ResponseReturnValue:
    """A foundation officer sees their foundations' commitments; treasurers and admins all."""
    principal = views.principal()

    def read(session: Session) -> dict[str, Any]:
        scope = _scope(session, principal)
        rows = [r for r in list_commitments(session) if scope is None or r.foundation_id in scope]
        return {"items": [commitment_body(session, row) for row in rows]}

    return json_answer(CommitmentListSchema(), in_transaction(read, read_only=True))


@bp.post("/grants")
@allow(OFFICER)
@needs_scope(MONEY)
@documented(
    "Create a matching-grant commitment",
    tag="grants",
    body=CommitmentCreateSchema,
    idempotent=True,
    responses={201: ("The commitment, its word booked and any top-up reserved.", CommitmentSchema)},
    errors={
        404: "`foundation_not_found` (or not one of the caller's), `campaign_not_found`.",
        409: "`idempotency_conflict`.",
        422: "`invalid_input` or `invalid_commitment` (a rule setting; `details.field`).",
    },
)
def create_grant_view() -> ResponseReturnValue:
    """A ratio match ("2 EUR for every 1 EUR": kind ratio, ratio "2") or a threshold
    top-up ("raise 40 %, we add 60 % up to 48,000": kind threshold, threshold_share
    "0.4", topup_share "0.6", topup_cap "48000.00"), toward a campaign or a call."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Commitment]:
        if data["kind"] == "ratio" and data["ratio"] is None:
            raise invalid_input({"ratio": ['a ratio commitment needs a ratio, e.g. "2"']})
        if data["ratio"] is not None and Decimal(data["ratio"]) <= 0:
            raise invalid_input({"ratio": ["must be greater than zero"]})
        spec = _spec(data)
        # Only for a foundation the officer acts for: another's does not exist for them.
        if spec.foundation_id not in foundations_of(session, views.principal().user_id):
            raise FoundationNotFoundError(
                f"nessuna fondazione con id {spec.foundation_id}",
                foundation_id=spec.foundation_id,
            )
        return commands.create_commitment(
            session, spec, origin=origin, clock=views.clock(), key=key
        )

    return command_post(
        CommitmentCreateSchema(),
        act,
        commitment_body,
        CommitmentSchema(),
        headers=lambda body: {
            "Location": url_for("api_v1.get_grant_view", commitment_id=body["id"])
        },
    )


@bp.get("/grants/<int:commitment_id>")
@allow(*READERS)
@needs_scope(READ)
@documented(
    "A commitment, its money states and its campaigns",
    tag="grants",
    responses={200: ("The commitment.", CommitmentSchema)},
    errors={404: "`commitment_not_found` (also another foundation's, for an officer)."},
)
def get_grant_view(commitment_id: int) -> ResponseReturnValue:
    """Money states from the engine's balances; per campaign the match so far."""
    principal = views.principal()

    def read(session: Session) -> dict[str, Any]:
        return commitment_body(session, _visible(session, principal, commitment_id))

    return json_answer(CommitmentSchema(), in_transaction(read, read_only=True))


@bp.post("/grants/<int:commitment_id>/cancel")
@allow(OFFICER)
@needs_scope(MONEY)
@documented(
    "Cancel a commitment",
    tag="grants",
    idempotent=True,
    responses={200: ("The cancelled commitment.", CommitmentSchema)},
    errors={
        404: "`commitment_not_found`.",
        409: "`commitment_state`: already cancelled by another request.",
    },
)
def cancel_grant_view(commitment_id: int) -> ResponseReturnValue:
    """Open reservations end and the unreserved pool goes back to the foundation;
    money already earned or released stays owed. Repeating with the same key
    answers the cancelled commitment as a replay."""

    def act(session: Session, _data: Any, origin: Origin, key: str) -> Outcome[Commitment]:
        _visible(session, views.principal(), commitment_id)
        return commands.cancel_commitment(
            session, commitment_id, origin=origin, clock=views.clock(), key=key
        )

    return command_post(None, act, commitment_body, CommitmentSchema(), status=200)


@bp.get("/grants/<int:commitment_id>/entries")
@allow(*READERS)
@needs_scope(READ)
@documented(
    "A commitment's journal entries",
    tag="grants",
    responses={200: ("Every entry of the commitment, in sequence.", GrantEntryListSchema)},
    errors={404: "`commitment_not_found`."},
)
def grant_entries_view(commitment_id: int) -> ResponseReturnValue:
    """Pledge, releases, forfeits, clawbacks, disbursements: each money-state
    transition that moved money, with its postings and chain hash."""
    principal = views.principal()

    def read(session: Session) -> dict[str, Any]:
        row = _visible(session, principal, commitment_id)
        ids = list(
            session.scalars(
                select(JournalEntry.id)
                .where(JournalEntry.idempotency_key.like(f"grant:{row.id}:%"))
                .order_by(JournalEntry.sequence)
            )
        )
        views = load_entries(session, ids)
        items = []
        for entry_id in ids:
            view = views[entry_id]
            items.append(
                {
                    "sequence": view.sequence,
                    "kind": view.kind,
                    "effective_on": view.effective_on,
                    "narration": view.narration,
                    "hash": view.hash,
                    "postings": [
                        {
                            "account": p.account,
                            "amount": format_minor(p.amount.minor, p.amount.currency),
                        }
                        for p in view.postings
                    ],
                }
            )
        return {"commitment_id": row.id, "items": items}

    return json_answer(GrantEntryListSchema(), in_transaction(read, read_only=True))


@bp.get("/grants/<int:commitment_id>/statement")
@allow(*READERS)
@needs_scope(READ)
@documented(
    "A commitment's grant statement (PDF or CSV)",
    tag="grants",
    query=StatementQuerySchema,
    responses={
        200: ("application/pdf or text/csv: the statement for the period.", None),
    },
    errors={404: "`commitment_not_found`.", 422: "`invalid_input` (a bad date or format)."},
)
def grant_statement_view(commitment_id: int) -> ResponseReturnValue:
    """The rendicontazione of the commitment's foundation for the period (default:
    from the commitment's creation to today), limited to this commitment, with
    the hash-chain head of the last entry it covers."""
    query = load(StatementQuerySchema(), request.args.to_dict())
    principal = views.principal()

    def read(session: Session) -> tuple[bytes, str]:
        row = _visible(session, principal, commitment_id)
        start: date = query["date_from"] or row.created_at.date()
        end: date = query["date_to"] or views.today()
        if end < start:
            raise invalid_input({"to": ["the period ends before it starts"]})
        return render_statement(session, row, start, end, query["format"], views.today())

    content, name = in_transaction(read, read_only=True)
    mimetype = "application/pdf" if name.endswith(".pdf") else "text/csv"
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def render_statement(
    session: Session, row: Commitment, start: date, end: date, fmt: str, today: date
) -> tuple[bytes, str]:
    """The foundation's statement limited to this commitment, as PDF or CSV bytes."""
    data = statements.build_grant_statement(
        session, row.foundation_id, start, end, today=today, commitment_ids=[row.id]
    )
    name = f"rendiconto-impegno-{row.id}-{start.isoformat()}-{end.isoformat()}.{fmt}"
    if fmt == "csv":
        return statements.grant_statement_csv(data).encode("utf-8"), name
    return render_grant_statement_pdf(data), name


@bp.get("/campaigns/<int:campaign_id>/matching")
@public
@documented(
    "What matching adds to a campaign now",
    tag="grants",
    query=QuoteQuerySchema,
    responses={
        200: ("The match so far per commitment and what a gift would add now.", QuoteSchema)
    },
    errors={404: "`campaign_not_found`.", 422: "`invalid_input`."},
)
def campaign_matching_view(campaign_id: int) -> ResponseReturnValue:
    """Public: per commitment the match so far (settled gifts only; it falls only
    with a refund) and what a gift of `amount` would add if it settled now ("your
    10 EUR becomes 20 EUR"). A quote reserves nothing."""
    query = load(QuoteQuerySchema(), request.args.to_dict())
    principal = current_principal()

    def read(session: Session) -> dict[str, Any]:
        campaign = get_campaign(session, campaign_id)
        if campaign.status == "draft":
            raise CampaignNotFoundError(
                f"nessuna campagna con id {campaign_id}", campaign_id=campaign_id
            )
        amount = parse_money(query["amount"], campaign.currency, "amount")
        person_id = None
        if principal is not None:
            user = session.get(User, principal.user_id)
            person_id = user.person_id if user else None
        figures = {f.commitment_id: f for f in queries.campaign_matches(session, campaign_id)}
        quote = queries.quote(
            session,
            campaign_id,
            amount.minor,
            method=query["method"],
            person_id=person_id,
            now=views.clock().now(),
        )
        adds = {cid: added for cid, _reason, added in quote.reasons}
        reasons = {cid: reason for cid, reason, _added in quote.reasons}
        cur = campaign.currency
        return {
            "campaign_id": campaign_id,
            "currency": cur,
            "amount": format_minor(amount.minor, cur),
            "becomes": format_minor(quote.total_minor, cur),
            "lines": [
                {
                    "commitment_id": f.commitment_id,
                    "foundation": f.foundation,
                    "title": f.title,
                    "kind": f.kind,
                    "matched_so_far": format_minor(f.matched_minor, cur),
                    "adds_now": format_minor(adds.get(f.commitment_id, 0), cur),
                    "reason": reasons.get(f.commitment_id, f.status),
                }
                for f in figures.values()
            ],
        }

    return json_answer(QuoteSchema(), in_transaction(read, read_only=True))
