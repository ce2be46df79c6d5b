"""Calls for ideas in the JSON API: calls, applications, reviews, awards and tranches.

The same services as the pages (`web.calls`), audit events included. Reads
need a token (any signed-in user sees the calls and what they financed; an
application is visible to its proponent, the staff and the call's committee).
Money-moving POSTs (approving an award reserves money; paying a tranche,
disbursing a loan, closing an award and booking a return move it) need an
`Idempotency-Key`; its hash is kept in the action's audit event, so a retry
with the same key answers 200 with `Idempotent-Replayed: true` and writes
nothing, and the same key on another award or tranche is a 409.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError
from ledger.core.money import Money, format_minor
from ledger.funds import applications as apps
from ledger.funds import awards as award_rules
from ledger.funds import reviews as review_rules
from ledger.funds.call_errors import ApplicationNotFoundError
from ledger.funds.call_models import Application, Award, Call, ConflictDeclaration, Review
from ledger.funds.calls import (
    NewCall,
    call_figures,
    committee,
    criteria_of,
    get_call,
    is_reviewer,
    list_calls,
    questions_of,
)
from web.access import Principal, allow, signed_in
from web.api.docs import documented
from web.api.errors import invalid_input
from web.api.inputs import idempotency_key, json_body, load
from web.api.v1 import _answer, _caller, _json, bp
from web.calls.pages_staff import (
    STAFF,
    Proposal,
    do_approve_award,
    do_approve_tranche,
    do_close_award,
    do_create_application,
    do_create_call,
    do_declare,
    do_disburse_loan,
    do_pay_tranche,
    do_propose,
    do_refuse_award,
    do_reject,
    do_report,
    do_return,
    do_score,
    do_screen,
    do_submit,
    do_withdraw,
    financed_ideas,
    read_once,
    request_hash,
    snapshot,
)
from web.calls.schemas import (
    ApplicationCreateSchema,
    ApplicationListSchema,
    ApplicationSchema,
    AwardCreateSchema,
    AwardSchema,
    CallCreateSchema,
    CallListSchema,
    CallSchema,
    ConflictCreateSchema,
    ConflictSchema,
    NoteSchema,
    RankingSchema,
    ReportCreateSchema,
    ReturnCreateSchema,
    ReviewCreateSchema,
    ReviewSchema,
)
from web.db import current_ledger, in_transaction

TAG = "calls"


def _money(text: str, currency: str, field: str) -> int:
    try:
        money = Money.parse(text, currency)
    except LedgerError as exc:
        raise invalid_input({field: [exc.message]}) from None
    if money.minor <= 0:
        raise invalid_input({field: ["must be greater than zero"]})
    return money.minor


def _key_hash(principal: Principal) -> str:
    return request_hash(f"api:{principal.user_id}:{idempotency_key()}")


# --------------------------------------------------------------------------- bodies
def _call_body(session: Session, call: Call) -> dict[str, Any]:
    figures = call_figures(session, call.id)
    money = call.currency
    return {
        "id": call.id,
        "fund_id": call.fund_id,
        "title": call.title,
        "description": call.description_md,
        "currency": money,
        "budget": format_minor(figures.budget_minor, money),
        "committed": format_minor(figures.committed_minor, money),
        "remaining": format_minor(figures.remaining_minor, money),
        "max_award": format_minor(call.max_award_minor, money),
        "opens_at": call.opens_at,
        "closes_at": call.closes_at,
        "award_kind": call.award_kind,
        "loan_product_id": call.loan_product_id,
        "open": call.is_open(current_ledger().clock.now()),
        "questions": [
            {
                "id": q.id,
                "position": q.position,
                "text": q.text,
                "required_answer": q.required_answer,
            }
            for q in questions_of(session, call.id)
        ],
        "criteria": [
            {"id": c.id, "position": c.position, "name": c.name, "weight": c.weight}
            for c in criteria_of(session, call.id)
        ],
        "reviewer_user_ids": committee(session, call.id),
        "financed": [
            {
                "application_id": idea.application.id,
                "title": idea.application.title,
                "kind": idea.award.kind,
                "amount": format_minor(idea.award.amount_minor, idea.award.currency),
                "proponent": idea.proponent_name,
            }
            for idea in financed_ideas(session, call.id)
        ],
    }


def _award_body(session: Session, award: Award) -> dict[str, Any]:
    return {
        "id": award.id,
        "application_id": award.application_id,
        "kind": award.kind,
        "amount": format_minor(award.amount_minor, award.currency),
        "currency": award.currency,
        "status": award.status,
        "proposed_by_user_id": award.proposed_by_user_id,
        "approved_by_user_id": award.approved_by_user_id,
        "term_months": award.term_months,
        "first_due_on": award.first_due_on,
        "loan_id": award.loan_id,
        "released": format_minor(award.released_minor, award.currency),
        "returned": format_minor(award.returned_minor, award.currency),
        "tranches": [
            {
                "id": t.id,
                "award_id": t.award_id,
                "position": t.position,
                "amount": format_minor(t.amount_minor, t.currency),
                "currency": t.currency,
                "milestone": t.milestone,
                "status": t.status,
                "approved_by_user_id": t.approved_by_user_id,
                "paid_by_user_id": t.paid_by_user_id,
                "paid_at": t.paid_at,
                "entry_id": t.payment_ref,
                "reported_at": t.reported_at,
            }
            for t in award_rules.tranches_of(session, award.id)
        ],
    }


def _application_body(session: Session, found: Application) -> dict[str, Any]:
    return {
        "id": found.id,
        "call_id": found.call_id,
        "proponent_user_id": found.proponent_user_id,
        "title": found.title,
        "summary": found.summary,
        "requested": format_minor(found.requested_minor, found.currency),
        "currency": found.currency,
        "kind": found.kind,
        "status": found.status,
        "public_name_consent": found.public_name_consent,
        "submitted_at": found.submitted_at,
        "answers": [
            {"question_id": q, "answer": a}
            for q, a in sorted(apps.answers_of(session, found.id).items())
        ],
        "history": [
            {
                "from_status": e.from_status,
                "to_status": e.to_status,
                "actor_user_id": e.actor_user_id,
                "occurred_at": e.occurred_at,
                "note": e.note,
            }
            for e in apps.history(session, found.id)
        ],
        "awards": [_award_body(session, a) for a in award_rules.awards_of(session, found.id)],
    }


def _visible_application(
    session: Session, application_id: int, principal: Principal
) -> Application:
    """The application if the caller is its proponent, staff, or on the call's committee
    (drafts: the proponent only); anyone else gets 404."""
    found = apps.get_application(session, application_id)
    if found.proponent_user_id == principal.user_id:
        return found
    staff = bool(principal.roles & set(STAFF))
    member = "reviewer" in principal.roles and is_reviewer(
        session, found.call_id, principal.user_id
    )
    if found.status != "draft" and (staff or member):
        return found
    raise ApplicationNotFoundError(
        f"nessuna candidatura con id {application_id}", application_id=application_id
    )


# --------------------------------------------------------------------------- calls
@bp.get("/calls")
@signed_in
@documented(
    "Calls for ideas",
    tag=TAG,
    responses={200: ("Every call, the latest closing first.", CallListSchema)},
)
def list_calls_view() -> ResponseReturnValue:
    """Every call with its budget figures, rules, committee and the ideas it financed
    (the proponent named only with their consent)."""

    def read(session: Session) -> dict[str, Any]:
        return {"calls": [_call_body(session, c) for c in list_calls(session)]}

    return _json(CallListSchema(), read_once(read))


@bp.post("/calls")
@allow("admin")
@documented(
    "Create a call for ideas",
    tag=TAG,
    body=CallCreateSchema,
    responses={201: ("The call.", CallSchema)},
    errors={404: "`fund_not_found`.", 422: "`invalid_input` or `invalid_call`."},
)
def create_call_view() -> ResponseReturnValue:
    """A call of a fund: budget, window, maximum award, kind, eligibility questions,
    weighted rubric and a committee of users with the reviewer role."""
    data = load(CallCreateSchema(), json_body())
    principal = _caller()
    currency = data["currency"]
    spec = NewCall(
        fund_id=data["fund_id"],
        title=data["title"],
        description_md=data["description"],
        budget_minor=Money.parse(data["budget"], currency).minor,
        max_award_minor=Money.parse(data["max_award"], currency).minor,
        currency=currency,
        opens_at=data["opens_at"],
        closes_at=data["closes_at"],
        award_kind=data["award_kind"],
        questions=[(q["text"], q["required_answer"]) for q in data["questions"]],
        criteria=[(c["name"], c["weight"]) for c in data["criteria"]],
        reviewer_user_ids=data["reviewer_user_ids"],
        loan_product_id=data["loan_product_id"],
    )

    def work(session: Session) -> dict[str, Any]:
        return _call_body(session, do_create_call(session, spec, principal))

    body = in_transaction(work)
    location = url_for("api_v1.get_call_view", call_id=body["id"])
    return _json(CallSchema(), body, 201, Location=location)


@bp.get("/calls/<int:call_id>")
@signed_in
@documented(
    "A call for ideas",
    tag=TAG,
    responses={200: ("The call, its rules and what it financed.", CallSchema)},
    errors={404: "`call_not_found`."},
)
def get_call_view(call_id: int) -> ResponseReturnValue:
    """One call with its figures, rules, committee and financed ideas."""
    return _json(CallSchema(), read_once(lambda s: _call_body(s, get_call(s, call_id))))


@bp.get("/calls/<int:call_id>/ranking")
@allow(*STAFF)
@documented(
    "The ranking of a call",
    tag=TAG,
    responses={
        200: ("Applications past screening, best mean weighted score first.", RankingSchema)
    },
    errors={404: "`call_not_found`."},
)
def call_ranking_view(call_id: int) -> ResponseReturnValue:
    """Scored applications by score (ties: earlier submission first), unscored ones last."""

    def read(session: Session) -> dict[str, Any]:
        get_call(session, call_id)
        rows = review_rules.ranking(session, call_id)
        return {
            "call_id": call_id,
            "ranking": [
                {
                    "rank": r.rank,
                    "application_id": r.application.id,
                    "title": r.application.title,
                    "status": r.application.status,
                    "score": None if r.shown_score is None else str(r.shown_score),
                    "reviews": r.reviews,
                    "conflicts": r.conflicts,
                    "requested": format_minor(
                        r.application.requested_minor, r.application.currency
                    ),
                }
                for r in rows
            ],
        }

    return _json(RankingSchema(), read_once(read))


# --------------------------------------------------------------------------- applications
@bp.get("/calls/<int:call_id>/applications")
@allow(*STAFF)
@documented(
    "The applications of a call",
    tag=TAG,
    responses={200: ("Every submitted application (drafts stay private).", ApplicationListSchema)},
    errors={404: "`call_not_found`."},
)
def call_applications_view(call_id: int) -> ResponseReturnValue:
    """Every application past the draft, oldest first, with its history and awards."""

    def read(session: Session) -> dict[str, Any]:
        get_call(session, call_id)
        found = [a for a in apps.applications_of_call(session, call_id) if a.status != "draft"]
        return {"applications": [_application_body(session, a) for a in found]}

    return _json(ApplicationListSchema(), read_once(read))


@bp.post("/calls/<int:call_id>/applications")
@allow("proponent")
@documented(
    "Apply to a call (a draft)",
    tag=TAG,
    body=ApplicationCreateSchema,
    responses={201: ("The draft application.", ApplicationSchema)},
    errors={
        404: "`call_not_found`.",
        409: "`call_closed`: the call has closed.",
        422: "`invalid_input` or `invalid_application` (e.g. above the maximum award).",
    },
)
def create_application_view(call_id: int) -> ResponseReturnValue:
    """A draft application by the caller; submit it before the call closes."""
    data = load(ApplicationCreateSchema(), json_body())
    principal = _caller()
    currency = snapshot(lambda s: get_call(s, call_id).currency)
    draft = apps.ApplicationDraft(
        title=data["title"],
        summary=data["summary"],
        requested_minor=_money(data["requested"], currency, "requested"),
        kind=data["kind"],
        answers={a["question_id"]: a["answer"] for a in data["answers"]},
        public_name_consent=data["public_name_consent"],
    )

    def work(session: Session) -> dict[str, Any]:
        return _application_body(session, do_create_application(session, call_id, draft, principal))

    body = in_transaction(work)
    location = url_for("api_v1.get_application_view", application_id=body["id"])
    return _json(ApplicationSchema(), body, 201, Location=location)


@bp.get("/me/applications")
@allow("proponent")
@documented(
    "The caller's applications",
    tag=TAG,
    responses={200: ("The caller's own applications, newest first.", ApplicationListSchema)},
)
def my_applications_view() -> ResponseReturnValue:
    """The caller's applications with their history and decisions."""
    principal = _caller()

    def read(session: Session) -> dict[str, Any]:
        found = apps.applications_of_user(session, principal.user_id)
        return {"applications": [_application_body(session, a) for a in found]}

    return _json(ApplicationListSchema(), read_once(read))


@bp.get("/applications/<int:application_id>")
@signed_in
@documented(
    "An application",
    tag=TAG,
    responses={200: ("The application, its history, award and tranches.", ApplicationSchema)},
    errors={404: "`application_not_found` (also when the caller may not see it)."},
)
def get_application_view(application_id: int) -> ResponseReturnValue:
    """Visible to its proponent, to admins and treasurers, and to the call's committee."""
    principal = _caller()
    return _json(
        ApplicationSchema(),
        read_once(
            lambda s: _application_body(s, _visible_application(s, application_id, principal))
        ),
    )


def _application_action(application_id: int, work: Any) -> ResponseReturnValue:
    def run(session: Session) -> dict[str, Any]:
        work(session)
        return _application_body(session, apps.get_application(session, application_id))

    return _json(ApplicationSchema(), in_transaction(run))


@bp.post("/applications/<int:application_id>/submit")
@allow("proponent")
@documented(
    "Submit an application",
    tag=TAG,
    responses={200: ("The submitted application.", ApplicationSchema)},
    errors={
        404: "`application_not_found`.",
        409: "`call_closed` (the draft stays a draft) or `application_state`.",
        422: "`invalid_application`: an eligibility question has no answer.",
    },
)
def submit_application_view(application_id: int) -> ResponseReturnValue:
    """draft -> submitted while the call is open; after it closes nothing changes."""
    principal = _caller()
    return _application_action(application_id, lambda s: do_submit(s, application_id, principal))


@bp.post("/applications/<int:application_id>/withdraw")
@allow("proponent")
@documented(
    "Withdraw an application",
    tag=TAG,
    responses={200: ("The withdrawn application.", ApplicationSchema)},
    errors={404: "`application_not_found`.", 409: "`application_state`."},
)
def withdraw_application_view(application_id: int) -> ResponseReturnValue:
    """The proponent withdraws (from draft, submitted or in review); final."""
    principal = _caller()
    return _application_action(application_id, lambda s: do_withdraw(s, application_id, principal))


@bp.post("/applications/<int:application_id>/screen")
@allow(*STAFF)
@documented(
    "Screen an application for eligibility",
    tag=TAG,
    responses={200: ("in_review, or screened_out when an answer differs.", ApplicationSchema)},
    errors={404: "`application_not_found`.", 409: "`application_state`: not submitted."},
)
def screen_application_view(application_id: int) -> ResponseReturnValue:
    """Compare the answers with the required ones."""
    principal = _caller()
    return _application_action(application_id, lambda s: do_screen(s, application_id, principal))


@bp.post("/applications/<int:application_id>/reject")
@allow(*STAFF)
@documented(
    "Do not finance an application",
    tag=TAG,
    body=NoteSchema,
    body_required=False,
    responses={200: ("The rejected application.", ApplicationSchema)},
    errors={404: "`application_not_found`.", 409: "`application_state`: not in review."},
)
def reject_application_view(application_id: int) -> ResponseReturnValue:
    """in_review -> rejected, with an optional note (no personal data)."""
    data = load(NoteSchema(), json_body(required=False))
    principal = _caller()
    return _application_action(
        application_id, lambda s: do_reject(s, application_id, principal, data["note"])
    )


# --------------------------------------------------------------------------- reviews
@bp.post("/applications/<int:application_id>/conflict")
@allow("reviewer")
@documented(
    "Declare a conflict of interest (or none)",
    tag=TAG,
    body=ConflictCreateSchema,
    responses={201: ("The declaration (final).", ConflictSchema)},
    errors={
        403: "`not_on_committee`.",
        404: "`application_not_found`.",
        409: "`conflict_of_interest` (a different declaration exists) or `application_state`.",
    },
)
def application_conflict_view(application_id: int) -> ResponseReturnValue:
    """A committee member declares, once, whether they have a conflict of interest."""
    data = load(ConflictCreateSchema(), json_body())
    principal = _caller()

    def work(session: Session) -> dict[str, Any]:
        found: ConflictDeclaration = do_declare(
            session, application_id, data["conflicted"], principal
        )
        return {
            "application_id": found.application_id,
            "reviewer_user_id": found.reviewer_user_id,
            "conflicted": found.conflicted,
            "declared_at": found.declared_at,
        }

    return _json(ConflictSchema(), in_transaction(work), 201)


@bp.post("/applications/<int:application_id>/reviews")
@allow("reviewer")
@documented(
    "Score an application",
    tag=TAG,
    body=ReviewCreateSchema,
    responses={201: ("The review.", ReviewSchema)},
    errors={
        403: "`not_on_committee`.",
        404: "`application_not_found`.",
        409: "`conflict_of_interest`: declared a conflict, or not declared yet.",
        422: "`invalid_review`: every criterion, 0-10, once.",
    },
)
def application_review_view(application_id: int) -> ResponseReturnValue:
    """Scores 0-10 for every criterion of the call's rubric, once per reviewer."""
    data = load(ReviewCreateSchema(), json_body())
    principal = _caller()
    scores: dict[int, int] = {}
    for item in data["scores"]:
        if item["criterion_id"] in scores:
            raise invalid_input({"scores": ["a criterion is scored once"]})
        scores[item["criterion_id"]] = item["score"]

    def work(session: Session) -> dict[str, Any]:
        found: Review = do_score(session, application_id, scores, data["comment"], principal)
        return {
            "id": found.id,
            "application_id": found.application_id,
            "reviewer_user_id": found.reviewer_user_id,
            "scores": [
                {"criterion_id": c, "score": v}
                for c, v in sorted(review_rules.scores_of(session, found.id).items())
            ],
            "comment": found.comment,
            "submitted_at": found.submitted_at,
        }

    return _json(ReviewSchema(), in_transaction(work), 201)


# --------------------------------------------------------------------------- awards
@bp.post("/applications/<int:application_id>/awards")
@allow(*STAFF)
@documented(
    "Propose an award",
    tag=TAG,
    body=AwardCreateSchema,
    responses={201: ("The proposal, waiting for a second person.", AwardSchema)},
    errors={
        404: "`application_not_found`.",
        409: "`application_state` or `call_budget_exceeded`.",
        422: "`invalid_input` or `invalid_award` (above the maximum, tranches not summing).",
    },
)
def propose_award_view(application_id: int) -> ResponseReturnValue:
    """An amount (which may differ from the request) as a grant in tranches or a loan."""
    data = load(AwardCreateSchema(), json_body())
    principal = _caller()
    currency = snapshot(lambda s: apps.get_application(s, application_id).currency)
    proposal = Proposal(
        amount_minor=_money(data["amount"], currency, "amount"),
        kind=data["kind"],
        tranches=[
            award_rules.TrancheSpec(
                _money(t["amount"], currency, f"tranches.{i}.amount"), t["milestone"]
            )
            for i, t in enumerate(data["tranches"])
        ],
        term_months=data["term_months"],
        first_due_on=data["first_due_on"],
    )

    def work(session: Session) -> dict[str, Any]:
        return _award_body(session, do_propose(session, application_id, proposal, principal))

    return _json(AwardSchema(), in_transaction(work), 201)


@bp.post("/awards/<int:award_id>/approve")
@allow(*STAFF)
@documented(
    "Approve an award (four-eyes): reserve the money",
    tag=TAG,
    idempotent=True,
    responses={201: ("The approved award; its money is held in the fund.", AwardSchema)},
    errors={
        404: "`award_not_found`.",
        409: "`four_eyes` (the proposer), `award_state`, `call_budget_exceeded`, "
        "`fund_insufficient` or `idempotency_conflict`.",
    },
)
def approve_award_view(award_id: int) -> ResponseReturnValue:
    """A second person approves: each grant tranche (or the loan) is reserved in the fund,
    and a loan is opened on its reservation."""
    principal = _caller()
    key_hash = _key_hash(principal)

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        award, created = do_approve_award(session, award_id, principal, key_hash)
        return _award_body(session, award), created

    body, created = in_transaction(work)
    return _answer(AwardSchema(), body, created=created)


@bp.post("/awards/<int:award_id>/refuse")
@allow(*STAFF)
@documented(
    "Refuse a proposed award",
    tag=TAG,
    body=NoteSchema,
    body_required=False,
    responses={200: ("The refused proposal; the application is back in review.", AwardSchema)},
    errors={404: "`award_not_found`.", 409: "`award_state`."},
)
def refuse_award_view(award_id: int) -> ResponseReturnValue:
    """Nothing was reserved; the application can get another proposal."""
    data = load(NoteSchema(), json_body(required=False))
    principal = _caller()

    def work(session: Session) -> dict[str, Any]:
        return _award_body(session, do_refuse_award(session, award_id, principal, data["note"]))

    return _json(AwardSchema(), in_transaction(work))


@bp.post("/awards/<int:award_id>/close")
@allow(*STAFF)
@documented(
    "Close a grant award",
    tag=TAG,
    idempotent=True,
    responses={201: ("The closed award; unpaid tranches are released.", AwardSchema)},
    errors={404: "`award_not_found`.", 409: "`award_state` or `idempotency_conflict`."},
)
def close_award_view(award_id: int) -> ResponseReturnValue:
    """Tranches never paid are released: their money is available to the fund again."""
    principal = _caller()
    key_hash = _key_hash(principal)

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        award, created = do_close_award(session, award_id, principal, key_hash)
        return _award_body(session, award), created

    body, created = in_transaction(work)
    return _answer(AwardSchema(), body, created=created)


@bp.post("/awards/<int:award_id>/returns")
@allow(*STAFF)
@documented(
    "Book money given back unspent",
    tag=TAG,
    body=ReturnCreateSchema,
    idempotent=True,
    responses={201: ("The award with what was returned so far.", AwardSchema)},
    errors={
        404: "`award_not_found`.",
        409: "`award_state` or `idempotency_conflict`.",
        422: "`invalid_award`: more than was paid and not yet returned.",
    },
)
def award_return_view(award_id: int) -> ResponseReturnValue:
    """The proponent gave back part of what was paid: it returns to the fund."""
    data = load(ReturnCreateSchema(), json_body())
    principal = _caller()
    key_hash = _key_hash(principal)
    currency = snapshot(lambda s: award_rules.get_award(s, award_id).currency)
    minor = _money(data["amount"], currency, "amount")

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        award, created = do_return(session, award_id, minor, principal, key_hash)
        return _award_body(session, award), created

    body, created = in_transaction(work)
    return _answer(AwardSchema(), body, created=created)


@bp.post("/awards/<int:award_id>/disburse")
@allow(*STAFF)
@documented(
    "Disburse an approved loan award",
    tag=TAG,
    idempotent=True,
    responses={201: ("The closed award; the loan is disbursed.", AwardSchema)},
    errors={
        404: "`award_not_found`.",
        409: "`four_eyes` (the approver), `award_state` or `idempotency_conflict`.",
    },
)
def award_disburse_view(award_id: int) -> ResponseReturnValue:
    """The loan's reservation is posted: the money leaves the fund."""
    principal = _caller()
    key_hash = _key_hash(principal)

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        award, created = do_disburse_loan(session, award_id, principal, key_hash)
        return _award_body(session, award), created

    body, created = in_transaction(work)
    return _answer(AwardSchema(), body, created=created)


# --------------------------------------------------------------------------- tranches
def _award_of_tranche(session: Session, tranche_id: int) -> Award:
    return award_rules.get_award(session, award_rules.get_tranche(session, tranche_id).award_id)


@bp.post("/tranches/<int:tranche_id>/approve")
@allow(*STAFF)
@documented(
    "Approve a tranche for payment",
    tag=TAG,
    responses={200: ("The award with the approved tranche.", AwardSchema)},
    errors={
        404: "`tranche_not_found`.",
        409: "`milestone_report_missing`, `tranche_state` or `award_state`.",
    },
)
def approve_tranche_view(tranche_id: int) -> ResponseReturnValue:
    """After the previous milestone's report; another person pays it."""
    principal = _caller()

    def work(session: Session) -> dict[str, Any]:
        do_approve_tranche(session, tranche_id, principal)
        return _award_body(session, _award_of_tranche(session, tranche_id))

    return _json(AwardSchema(), in_transaction(work))


@bp.post("/tranches/<int:tranche_id>/pay")
@allow(*STAFF)
@documented(
    "Pay an approved tranche",
    tag=TAG,
    idempotent=True,
    responses={201: ("The award with the paid tranche and its entry.", AwardSchema)},
    errors={
        404: "`tranche_not_found`.",
        409: "`four_eyes` (the approver), `milestone_report_missing`, `tranche_state` or "
        "`idempotency_conflict`.",
    },
)
def pay_tranche_view(tranche_id: int) -> ResponseReturnValue:
    """Posts the tranche's reservation: Dr grants paid, Cr fund cash."""
    principal = _caller()
    key_hash = _key_hash(principal)

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        _tranche, created = do_pay_tranche(session, tranche_id, principal, key_hash)
        return _award_body(session, _award_of_tranche(session, tranche_id)), created

    body, created = in_transaction(work)
    return _answer(AwardSchema(), body, created=created)


@bp.post("/tranches/<int:tranche_id>/report")
@allow("proponent")
@documented(
    "Report on a tranche's milestone",
    tag=TAG,
    body=ReportCreateSchema,
    responses={200: ("The award with the reported tranche.", AwardSchema)},
    errors={404: "`tranche_not_found`.", 409: "`tranche_state`: not paid, or already reported."},
)
def tranche_report_view(tranche_id: int) -> ResponseReturnValue:
    """The proponent's report; the next tranche can be approved after it."""
    data = load(ReportCreateSchema(), json_body())
    principal = _caller()

    def work(session: Session) -> dict[str, Any]:
        do_report(session, tranche_id, data["report"], principal)
        return _award_body(session, _award_of_tranche(session, tranche_id))

    return _json(AwardSchema(), in_transaction(work))
