"""Calls for ideas in the JSON API: calls, applications, reviews, awards and tranches.

The same use cases as the pages (`ledger.funds.call_commands`), audit events
included. Reads need a token (any signed-in user sees the calls and what they
financed, the staff also their committee; an application is visible to its
proponent, the staff and the call's committee, each seeing what their page
shows, and is a 404 for anyone else, as if it did not exist: see
`web.calls.bodies`). Money-moving POSTs (approving an award reserves money;
paying a tranche, disbursing a loan, closing an award and booking a return
move it) need an `Idempotency-Key` (`web.api.common.command_post`): a retry
with the same key answers 200 with `Idempotent-Replayed: true` and writes
nothing, and the same key on another award, tranche or amount is a 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome
from ledger.core.money import Money, format_minor
from ledger.funds import applications as apps
from ledger.funds import awards as award_rules
from ledger.funds import call_commands
from ledger.funds import reviews as review_rules
from ledger.funds.call_models import Award
from ledger.funds.calls import (
    NewCall,
    get_call,
    list_calls,
)
from ledger.people.models import MONEY, READ
from web import views
from web.access import allow, needs_scope, signed_in
from web.api.common import bp, command_post, json_answer
from web.api.docs import documented
from web.api.errors import invalid_input
from web.api.inputs import json_body, load, parse_money
from web.calls import STAFF
from web.calls.bodies import (
    application_body,
    award_body,
    award_of_tranche,
    call_body,
    is_staff,
    visible_application,
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
from web.db import in_transaction

TAG = "calls"


# --------------------------------------------------------------------------- calls
@bp.get("/calls")
@signed_in
@needs_scope(READ)
@documented(
    "Calls for ideas",
    tag=TAG,
    responses={200: ("Every call, the latest closing first.", CallListSchema)},
)
def list_calls_view() -> ResponseReturnValue:
    """Every call with its budget figures, rules, committee and the ideas it financed
    (the proponent named only with their consent)."""

    staff = is_staff(views.principal())

    def read(session: Session) -> dict[str, Any]:
        return {"calls": [call_body(session, c, staff=staff) for c in list_calls(session)]}

    return json_answer(CallListSchema(), views.read_once(read))


@bp.post("/calls")
@allow("admin")
@needs_scope(MONEY)
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
        created = call_commands.create_call(
            session, spec, origin=views.origin(), clock=views.clock()
        )
        return call_body(session, created.value, staff=True)

    body = in_transaction(work)
    location = url_for("api_v1.get_call_view", call_id=body["id"])
    return json_answer(CallSchema(), body, 201, Location=location)


@bp.get("/calls/<int:call_id>")
@signed_in
@needs_scope(READ)
@documented(
    "A call for ideas",
    tag=TAG,
    responses={200: ("The call, its rules and what it financed.", CallSchema)},
    errors={404: "`call_not_found`."},
)
def get_call_view(call_id: int) -> ResponseReturnValue:
    """One call with its figures, rules, committee and financed ideas."""
    staff = is_staff(views.principal())
    return json_answer(
        CallSchema(), views.read_once(lambda s: call_body(s, get_call(s, call_id), staff=staff))
    )


@bp.get("/calls/<int:call_id>/ranking")
@allow(*STAFF)
@needs_scope(READ)
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

    return json_answer(RankingSchema(), views.read_once(read))


# --------------------------------------------------------------------------- applications
@bp.get("/calls/<int:call_id>/applications")
@allow(*STAFF)
@needs_scope(READ)
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
        return {"applications": [application_body(session, a) for a in found]}

    return json_answer(ApplicationListSchema(), views.read_once(read))


@bp.post("/calls/<int:call_id>/applications")
@allow("proponent")
@needs_scope(MONEY)
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
    currency = views.snapshot(lambda s: get_call(s, call_id).currency)
    draft = apps.ApplicationDraft(
        title=data["title"],
        summary=data["summary"],
        requested_minor=parse_money(data["requested"], currency, "requested").minor,
        kind=data["kind"],
        answers={a["question_id"]: a["answer"] for a in data["answers"]},
        public_name_consent=data["public_name_consent"],
    )

    def work(session: Session) -> dict[str, Any]:
        created = call_commands.create_application(
            session, call_id, draft, origin=views.origin(), clock=views.clock()
        )
        return application_body(session, created.value, "proponent")

    body = in_transaction(work)
    location = url_for("api_v1.get_application_view", application_id=body["id"])
    return json_answer(ApplicationSchema(), body, 201, Location=location)


@bp.get("/me/applications")
@allow("proponent")
@needs_scope(READ)
@documented(
    "The caller's applications",
    tag=TAG,
    responses={200: ("The caller's own applications, newest first.", ApplicationListSchema)},
)
def my_applications_view() -> ResponseReturnValue:
    """The caller's applications with their history and decisions."""
    principal = views.principal()

    def read(session: Session) -> dict[str, Any]:
        found = apps.applications_of_user(session, principal.user_id)
        return {"applications": [application_body(session, a, "proponent") for a in found]}

    return json_answer(ApplicationListSchema(), views.read_once(read))


@bp.get("/applications/<int:application_id>")
@signed_in
@needs_scope(READ)
@documented(
    "An application",
    tag=TAG,
    responses={200: ("The application, its history, award and tranches.", ApplicationSchema)},
    errors={404: "`application_not_found` (also when the caller may not see it)."},
)
def get_application_view(application_id: int) -> ResponseReturnValue:
    """Visible to its proponent, to admins and treasurers, and to the call's committee."""
    principal = views.principal()
    return json_answer(
        ApplicationSchema(),
        views.read_once(
            lambda s: application_body(s, *visible_application(s, application_id, principal))
        ),
    )


def _application_action(
    application_id: int, act: Callable[..., Outcome[Any]], **arguments: Any
) -> ResponseReturnValue:
    """Run a keyless use case on an application; answer the application as the caller sees it."""
    origin = views.origin()
    principal = views.principal()

    def run(session: Session) -> dict[str, Any]:
        act(session, application_id, origin=origin, clock=views.clock(), **arguments)
        return application_body(session, *visible_application(session, application_id, principal))

    return json_answer(ApplicationSchema(), in_transaction(run))


@bp.post("/applications/<int:application_id>/submit")
@allow("proponent")
@needs_scope(MONEY)
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
    return _application_action(application_id, call_commands.submit_application)


@bp.post("/applications/<int:application_id>/withdraw")
@allow("proponent")
@needs_scope(MONEY)
@documented(
    "Withdraw an application",
    tag=TAG,
    responses={200: ("The withdrawn application.", ApplicationSchema)},
    errors={404: "`application_not_found`.", 409: "`application_state`."},
)
def withdraw_application_view(application_id: int) -> ResponseReturnValue:
    """The proponent withdraws (from draft, submitted or in review); final."""
    return _application_action(application_id, call_commands.withdraw_application)


@bp.post("/applications/<int:application_id>/screen")
@allow(*STAFF)
@needs_scope(MONEY)
@documented(
    "Screen an application for eligibility",
    tag=TAG,
    responses={200: ("in_review, or screened_out when an answer differs.", ApplicationSchema)},
    errors={404: "`application_not_found`.", 409: "`application_state`: not submitted."},
)
def screen_application_view(application_id: int) -> ResponseReturnValue:
    """Compare the answers with the required ones."""
    return _application_action(application_id, call_commands.screen_application)


@bp.post("/applications/<int:application_id>/reject")
@allow(*STAFF)
@needs_scope(MONEY)
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
    return _application_action(application_id, call_commands.reject_application, note=data["note"])


# --------------------------------------------------------------------------- reviews
@bp.post("/applications/<int:application_id>/conflict")
@allow("reviewer")
@needs_scope(MONEY)
@documented(
    "Declare a conflict of interest (or none)",
    tag=TAG,
    body=ConflictCreateSchema,
    responses={201: ("The declaration (final).", ConflictSchema)},
    errors={
        403: "`not_on_committee`: a member of the staff who is not on the call's committee.",
        404: "`application_not_found`, also when the caller may not see it (off the committee, "
        "a draft).",
        409: "`conflict_of_interest` (a different declaration exists, or the caller is the "
        "proponent and declares no conflict) or `application_state`.",
    },
)
def application_conflict_view(application_id: int) -> ResponseReturnValue:
    """A committee member declares, once, whether they have a conflict of interest."""
    data = load(ConflictCreateSchema(), json_body())
    principal = views.principal()

    def work(session: Session) -> dict[str, Any]:
        visible_application(session, application_id, principal)
        found = call_commands.declare_conflict(
            session,
            application_id,
            conflicted=data["conflicted"],
            origin=views.origin(),
            clock=views.clock(),
        ).value
        return {
            "application_id": found.application_id,
            "reviewer_user_id": found.reviewer_user_id,
            "conflicted": found.conflicted,
            "declared_at": found.declared_at,
        }

    return json_answer(ConflictSchema(), in_transaction(work), 201)


@bp.post("/applications/<int:application_id>/reviews")
@allow("reviewer")
@needs_scope(MONEY)
@documented(
    "Score an application",
    tag=TAG,
    body=ReviewCreateSchema,
    responses={201: ("The review.", ReviewSchema)},
    errors={
        403: "`not_on_committee`: a member of the staff who is not on the call's committee.",
        404: "`application_not_found`, also when the caller may not see it (off the committee, "
        "a draft).",
        409: "`conflict_of_interest`: declared a conflict, not declared yet, or the caller is "
        "the proponent.",
        422: "`invalid_review`: every criterion, 0-10, once.",
    },
)
def application_review_view(application_id: int) -> ResponseReturnValue:
    """Scores 0-10 for every criterion of the call's rubric, once per reviewer."""
    data = load(ReviewCreateSchema(), json_body())
    scores: dict[int, int] = {}
    for item in data["scores"]:
        if item["criterion_id"] in scores:
            raise invalid_input({"scores": ["a criterion is scored once"]})
        scores[item["criterion_id"]] = item["score"]

    principal = views.principal()

    def work(session: Session) -> dict[str, Any]:
        visible_application(session, application_id, principal)
        found = call_commands.score_application(
            session,
            application_id,
            scores=scores,
            comment=data["comment"],
            origin=views.origin(),
            clock=views.clock(),
        ).value
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

    return json_answer(ReviewSchema(), in_transaction(work), 201)


# --------------------------------------------------------------------------- awards
@bp.post("/applications/<int:application_id>/awards")
@allow(*STAFF)
@needs_scope(MONEY)
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
    currency = views.snapshot(lambda s: apps.get_application(s, application_id).currency)
    amount_minor = parse_money(data["amount"], currency, "amount").minor
    tranches = [
        award_rules.TrancheSpec(
            parse_money(t["amount"], currency, f"tranches.{i}.amount").minor, t["milestone"]
        )
        for i, t in enumerate(data["tranches"])
    ]

    def work(session: Session) -> dict[str, Any]:
        award = call_commands.propose_award(
            session,
            application_id,
            amount_minor=amount_minor,
            kind=data["kind"],
            tranches=tranches,
            term_months=data["term_months"],
            first_due_on=data["first_due_on"],
            origin=views.origin(),
            clock=views.clock(),
        ).value
        return award_body(session, award)

    return json_answer(AwardSchema(), in_transaction(work), 201)


@bp.post("/awards/<int:award_id>/approve")
@allow(*STAFF)
@needs_scope(MONEY)
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
    return command_post(
        None,
        lambda session, _data, origin, key: call_commands.approve_award(
            session, award_id, origin=origin, clock=views.clock(), key=key
        ),
        award_body,
        AwardSchema(),
    )


@bp.post("/awards/<int:award_id>/refuse")
@allow(*STAFF)
@needs_scope(MONEY)
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

    def work(session: Session) -> dict[str, Any]:
        award = call_commands.refuse_award(
            session, award_id, note=data["note"], origin=views.origin(), clock=views.clock()
        ).value
        return award_body(session, award)

    return json_answer(AwardSchema(), in_transaction(work))


@bp.post("/awards/<int:award_id>/close")
@allow(*STAFF)
@needs_scope(MONEY)
@documented(
    "Close a grant award",
    tag=TAG,
    idempotent=True,
    responses={201: ("The closed award; unpaid tranches are released.", AwardSchema)},
    errors={404: "`award_not_found`.", 409: "`award_state` or `idempotency_conflict`."},
)
def close_award_view(award_id: int) -> ResponseReturnValue:
    """Tranches never paid are released: their money is available to the fund again."""
    return command_post(
        None,
        lambda session, _data, origin, key: call_commands.close_award(
            session, award_id, origin=origin, clock=views.clock(), key=key
        ),
        award_body,
        AwardSchema(),
    )


@bp.post("/awards/<int:award_id>/returns")
@allow(*STAFF)
@needs_scope(MONEY)
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

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Award]:
        currency = award_rules.get_award(session, award_id).currency
        minor = parse_money(data["amount"], currency, "amount").minor
        return call_commands.return_unspent(
            session, award_id, minor, origin=origin, clock=views.clock(), key=key
        )

    return command_post(ReturnCreateSchema(), act, award_body, AwardSchema())


@bp.post("/awards/<int:award_id>/disburse")
@allow(*STAFF)
@needs_scope(MONEY)
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
    return command_post(
        None,
        lambda session, _data, origin, key: call_commands.disburse_award_loan(
            session, award_id, origin=origin, clock=views.clock(), key=key
        ),
        award_body,
        AwardSchema(),
    )


# --------------------------------------------------------------------------- tranches
@bp.post("/tranches/<int:tranche_id>/approve")
@allow(*STAFF)
@needs_scope(MONEY)
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

    def work(session: Session) -> dict[str, Any]:
        call_commands.approve_tranche(
            session, tranche_id, origin=views.origin(), clock=views.clock()
        )
        return award_body(session, award_of_tranche(session, tranche_id))

    return json_answer(AwardSchema(), in_transaction(work))


@bp.post("/tranches/<int:tranche_id>/pay")
@allow(*STAFF)
@needs_scope(MONEY)
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
    return command_post(
        None,
        lambda session, _data, origin, key: call_commands.pay_tranche(
            session, tranche_id, origin=origin, clock=views.clock(), key=key
        ),
        lambda session, tranche: award_body(session, award_of_tranche(session, tranche.id)),
        AwardSchema(),
    )


@bp.post("/tranches/<int:tranche_id>/report")
@allow("proponent")
@needs_scope(MONEY)
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

    def work(session: Session) -> dict[str, Any]:
        call_commands.report_milestone(
            session, tranche_id, report=data["report"], origin=views.origin(), clock=views.clock()
        )
        return award_body(session, award_of_tranche(session, tranche_id), "proponent")

    return json_answer(AwardSchema(), in_transaction(work))
