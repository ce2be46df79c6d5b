"""What the API of calls for ideas answers: a call, an application, an award, as JSON data.

Each builder reads inside the request's unit of work and returns the plain
data its schema in `web.calls.schemas` dumps. `visible_application` says who
may read an application (its proponent, the staff, the call's committee) and
with which view; an application the caller may not see is a 404, the same as
one that does not exist. Each view shows what that person's page shows:

- `staff` (admins, treasurers): everything, who did what included;
- `proponent`: the history with its notes but not who acted, and an award
  only once it is decided (approved or closed), without staff ids or the
  journal's entry ids;
- `committee`: the idea, its answers and its proponent (what a conflict is
  about), no history and no award.

A call's committee (`reviewer_user_ids`) is shown to the staff only.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.orm import Session

from ledger.core.money import format_minor
from ledger.funds import applications as apps
from ledger.funds import awards as award_rules
from ledger.funds.call_errors import ApplicationNotFoundError
from ledger.funds.call_models import Application, Award, Call
from ledger.funds.calls import call_figures, committee, criteria_of, is_reviewer, questions_of
from web import views
from web.access import Principal
from web.calls import STAFF
from web.calls.reads import financed_ideas

View = Literal["staff", "proponent", "committee"]
# An award the proponent's page shows: a decision, never a proposal still waiting.
DECIDED = ("approved", "closed")


def is_staff(principal: Principal) -> bool:
    return bool(principal.roles & set(STAFF))


def call_body(session: Session, call: Call, *, staff: bool = False) -> dict[str, Any]:
    """A call with its figures, rules and the ideas it financed; its committee for the staff."""
    figures = call_figures(session, call.id)
    money = call.currency
    body = {
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
        "open": call.is_open(views.clock().now()),
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
    if staff:
        body["reviewer_user_ids"] = committee(session, call.id)
    return body


def award_body(session: Session, award: Award, view: View = "staff") -> dict[str, Any]:
    """An award with its tranches; outside the staff, without who acted or the entries."""
    staff = view == "staff"
    return {
        "id": award.id,
        "application_id": award.application_id,
        "kind": award.kind,
        "amount": format_minor(award.amount_minor, award.currency),
        "currency": award.currency,
        "status": award.status,
        "proposed_by_user_id": award.proposed_by_user_id if staff else None,
        "approved_by_user_id": award.approved_by_user_id if staff else None,
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
                "approved_by_user_id": t.approved_by_user_id if staff else None,
                "paid_by_user_id": t.paid_by_user_id if staff else None,
                "paid_at": t.paid_at,
                "entry_id": t.payment_ref if staff else None,
                "reported_at": t.reported_at,
            }
            for t in award_rules.tranches_of(session, award.id)
        ],
    }


def application_body(session: Session, found: Application, view: View = "staff") -> dict[str, Any]:
    """An application with its answers, and the history and awards its `view` shows."""
    if view == "committee":
        history: list[dict[str, Any]] = []
        awards: list[dict[str, Any]] = []
    else:
        history = [
            {
                "from_status": e.from_status,
                "to_status": e.to_status,
                "actor_user_id": e.actor_user_id if view == "staff" else None,
                "occurred_at": e.occurred_at,
                "note": e.note,
            }
            for e in apps.history(session, found.id)
        ]
        awards = [
            award_body(session, a, view)
            for a in award_rules.awards_of(session, found.id)
            if view == "staff" or a.status in DECIDED
        ]
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
        "history": history,
        "awards": awards,
    }


def visible_application(
    session: Session, application_id: int, principal: Principal
) -> tuple[Application, View]:
    """The application and the caller's view of it: staff, its proponent, or a member of
    the call's committee (drafts: the proponent only); anyone else gets the 404 of an
    application that does not exist."""
    found = apps.get_application(session, application_id)
    published = found.status != "draft"
    if published and is_staff(principal):
        return found, "staff"
    if found.proponent_user_id == principal.user_id:
        return found, "proponent"
    member = "reviewer" in principal.roles and is_reviewer(
        session, found.call_id, principal.user_id
    )
    if published and member:
        return found, "committee"
    raise ApplicationNotFoundError(
        f"nessuna candidatura con id {application_id}", application_id=application_id
    )


def award_of_tranche(session: Session, tranche_id: int) -> Award:
    """The award a tranche belongs to."""
    return award_rules.get_award(session, award_rules.get_tranche(session, tranche_id).award_id)
