"""Calls for ideas, applications, committee review, awards and tranches (SQLite and PostgreSQL).

Every rule is exercised through the services on the real migrated schema; a
refused operation is checked to leave the database as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ledger.core.holds import get_hold
from ledger.funds import service as funds
from ledger.funds.applications import (
    get_application,
    history,
    own_application,
    screen_application,
    submit_application,
    withdraw_application,
)
from ledger.funds.awards import (
    TrancheSpec,
    approve_award,
    approve_tranche,
    close_award,
    disburse_award_loan,
    get_award,
    pay_tranche,
    propose_award,
    refuse_award,
    report_milestone,
    return_unspent,
    tranches_of,
)
from ledger.funds.call_errors import (
    ApplicationNotFoundError,
    ApplicationStateError,
    CallBudgetExceededError,
    CallClosedError,
    ConflictOfInterestError,
    FourEyesError,
    InvalidAwardError,
    InvalidCallError,
    MilestoneReportMissingError,
    NotOnCommitteeError,
)
from ledger.funds.call_models import Application, ApplicationEvent, Award, Review, Tranche
from ledger.funds.calls import NewCall, call_figures, create_call
from ledger.funds.errors import FundInsufficientError
from ledger.funds.models import Loan
from ledger.funds.reviews import declare_conflict, ranking, score_application
from tests.integration.calls_world import (
    CLOSES,
    FIRST_DUE,
    OPENS,
    World,
    apply,
    build_world,
    later,
)


@pytest.fixture
def world(ledger, clock) -> World:  # type: ignore[no-untyped-def]
    return build_world(ledger, clock)


def count(world: World, model: type) -> int:
    return world.run(lambda s: len(list(s.scalars(select(model)))))


def screened(world: World, application_id: int) -> None:
    world.run(
        lambda s: screen_application(
            s, application_id, actor_user_id=world.admin, clock=world.clock
        )
    )


def scored(world: World, application_id: int, reviewer: int, marks: tuple[int, int, int]) -> None:
    def work(session: Session) -> None:
        declare_conflict(
            session, application_id, reviewer_user_id=reviewer, conflicted=False, clock=world.clock
        )
        score_application(
            session,
            application_id,
            reviewer_user_id=reviewer,
            scores=dict(zip(world.criteria, marks, strict=True)),
            comment="",
            clock=world.clock,
        )

    world.run(work)


def in_review(world: World, proponent_index: int = 0, **kwargs) -> int:  # type: ignore[no-untyped-def]
    application_id = apply(world, world.proponents[proponent_index], **kwargs)
    screened(world, application_id)
    return application_id


def position(world: World):  # type: ignore[no-untyped-def]
    return world.run(lambda s: funds.fund_position(s, world.fund_id))


# ------------------------------------------------------------------ calls
def test_a_call_refuses_a_committee_member_without_the_reviewer_role(world):
    spec = NewCall(
        fund_id=world.fund_id,
        title="Bando",
        description_md="",
        budget_minor=100_000,
        max_award_minor=50_000,
        currency="EUR",
        opens_at=OPENS,
        closes_at=CLOSES,
        award_kind="grant",
        criteria=[("Impatto", 1)],
        reviewer_user_ids=[world.proponents[0]],
    )
    with pytest.raises(InvalidCallError) as refused:
        world.run(lambda s: create_call(s, spec, actor_user_id=world.admin, clock=world.clock))
    assert refused.value.details["field"] == "reviewers"


def test_a_call_refuses_a_maximum_award_above_its_budget_and_a_window_already_closed(world):
    base = dict(
        fund_id=world.fund_id,
        title="Bando",
        description_md="",
        currency="EUR",
        opens_at=OPENS,
        closes_at=CLOSES,
        award_kind="grant",
        criteria=[("Impatto", 1)],
        reviewer_user_ids=world.reviewers,
    )
    too_big = NewCall(budget_minor=100_000, max_award_minor=100_001, **base)  # type: ignore[arg-type]
    with pytest.raises(InvalidCallError) as refused:
        world.run(lambda s: create_call(s, too_big, actor_user_id=world.admin, clock=world.clock))
    assert refused.value.details["field"] == "max_award"
    past = NewCall(
        budget_minor=100_000,
        max_award_minor=50_000,
        **{**base, "closes_at": datetime(2026, 6, 10, tzinfo=UTC)},  # type: ignore[arg-type]
    )
    with pytest.raises(InvalidCallError):
        world.run(lambda s: create_call(s, past, actor_user_id=world.admin, clock=world.clock))


# ------------------------------------------------------------------ applications
def test_a_submitted_application_records_every_transition_with_who_and_when(world):
    proponent = world.proponents[0]
    application_id = apply(world, proponent)
    events = world.run(
        lambda s: [
            (e.from_status, e.to_status, e.actor_user_id) for e in history(s, application_id)
        ]
    )
    assert events == [(None, "draft", proponent), ("draft", "submitted", proponent)]
    found = world.run(lambda s: get_application(s, application_id))
    assert found.submitted_at == world.clock.now()


def test_submitting_after_the_call_closes_is_refused_and_changes_nothing(world):
    proponent = world.proponents[0]
    application_id = apply(world, proponent, submit=False)
    world.clock.instant = CLOSES
    with pytest.raises(CallClosedError) as refused:
        world.run(
            lambda s: submit_application(
                s, application_id, proponent_user_id=proponent, clock=world.clock
            )
        )
    assert refused.value.http_status == 409
    found = world.run(lambda s: get_application(s, application_id))
    assert found.status == "draft" and found.submitted_at is None
    assert count(world, ApplicationEvent) == 1


def test_a_proponent_cannot_reach_someone_elses_application(world):
    application_id = apply(world, world.proponents[0], submit=False)
    with pytest.raises(ApplicationNotFoundError):
        world.run(lambda s: own_application(s, application_id, world.proponents[1]))
    with pytest.raises(ApplicationNotFoundError):
        world.run(
            lambda s: submit_application(
                s, application_id, proponent_user_id=world.proponents[1], clock=world.clock
            )
        )


def test_a_withdrawn_application_cannot_be_submitted_or_withdrawn_into_another_state(world):
    proponent = world.proponents[0]
    application_id = apply(world, proponent)
    world.run(
        lambda s: withdraw_application(
            s, application_id, proponent_user_id=proponent, clock=world.clock
        )
    )
    with pytest.raises(ApplicationStateError):
        world.run(
            lambda s: submit_application(
                s, application_id, proponent_user_id=proponent, clock=world.clock
            )
        )
    with pytest.raises(ApplicationStateError):
        screened(world, application_id)
    assert world.run(lambda s: get_application(s, application_id)).status == "withdrawn"


def test_screening_sends_eligible_ideas_to_review_and_the_others_out(world):
    good = apply(world, world.proponents[0])
    bad = apply(
        world,
        world.proponents[1],
        answers={world.questions[0]: True, world.questions[1]: True},
    )
    screened(world, good)
    screened(world, bad)
    assert world.run(lambda s: get_application(s, good)).status == "in_review"
    out = world.run(lambda s: history(s, bad))[-1]
    assert (out.to_status, out.actor_user_id) == ("screened_out", world.admin)
    assert "2" in (out.note or "")


# ------------------------------------------------------------------ committee
def test_a_reviewer_outside_the_committee_is_refused(world):
    application_id = in_review(world)
    with pytest.raises(NotOnCommitteeError):
        world.run(
            lambda s: declare_conflict(
                s,
                application_id,
                reviewer_user_id=world.outsider_reviewer,
                conflicted=False,
                clock=world.clock,
            )
        )


def test_a_conflicted_reviewer_cannot_score_and_nothing_is_written(world):
    application_id = in_review(world)
    reviewer = world.reviewers[0]
    world.run(
        lambda s: declare_conflict(
            s, application_id, reviewer_user_id=reviewer, conflicted=True, clock=world.clock
        )
    )
    with pytest.raises(ConflictOfInterestError) as refused:
        world.run(
            lambda s: score_application(
                s,
                application_id,
                reviewer_user_id=reviewer,
                scores=dict.fromkeys(world.criteria, 10),
                comment="",
                clock=world.clock,
            )
        )
    assert refused.value.details == {"declared": True}
    assert count(world, Review) == 0
    # The declaration stands: it cannot be turned into "no conflict" afterwards.
    with pytest.raises(ConflictOfInterestError):
        world.run(
            lambda s: declare_conflict(
                s, application_id, reviewer_user_id=reviewer, conflicted=False, clock=world.clock
            )
        )


def test_a_reviewer_declares_before_scoring(world):
    application_id = in_review(world)
    with pytest.raises(ConflictOfInterestError) as refused:
        world.run(
            lambda s: score_application(
                s,
                application_id,
                reviewer_user_id=world.reviewers[0],
                scores=dict.fromkeys(world.criteria, 5),
                comment="",
                clock=world.clock,
            )
        )
    assert refused.value.details == {"declared": False}


def test_scores_are_weighted_means_and_the_ranking_orders_them(world):
    first = in_review(world, 0, title="Orto")
    second = in_review(world, 1, title="Ciclofficina")
    # weights 3, 2, 1: (3*8 + 2*6 + 1*10) / 6 = 46/6 = 7.666..; (3*9 + 2*9 + 1*9)/6 = 9
    scored(world, first, world.reviewers[0], (8, 6, 10))
    scored(world, first, world.reviewers[1], (9, 9, 9))
    # (3*10 + 2*10 + 1*4)/6 = 9; (3*9 + 2*8 + 1*7)/6 = 50/6 = 8.333..
    scored(world, second, world.reviewers[0], (10, 10, 4))
    scored(world, second, world.reviewers[1], (9, 8, 7))
    rows = world.run(lambda s: ranking(s, world.call_id))
    assert [(r.application.id, r.rank, r.reviews) for r in rows] == [(second, 1, 2), (first, 2, 2)]
    # means: second (9 + 8.333..)/2 = 8.67 (8.6666..), first (7.666.. + 9)/2 = 8.33
    assert [r.shown_score for r in rows] == [Decimal("8.67"), Decimal("8.33")]


# ------------------------------------------------------------------ awards
def propose(world: World, application_id: int, amount: int, **kwargs) -> int:  # type: ignore[no-untyped-def]
    actor = kwargs.pop("actor", world.admin)
    kind = kwargs.pop("kind", "grant")
    return world.run(
        lambda s: (
            propose_award(
                s,
                application_id,
                amount_minor=amount,
                kind=kind,
                actor_user_id=actor,
                clock=world.clock,
                **kwargs,
            ).id
        )
    )


def test_an_award_above_the_calls_maximum_is_refused(world):
    application_id = in_review(world)
    with pytest.raises(InvalidAwardError) as refused:
        propose(world, application_id, 300_001)
    assert refused.value.details["maximum_minor"] == 300_000
    assert count(world, Award) == 0
    assert world.run(lambda s: get_application(s, application_id)).status == "in_review"


def test_an_award_may_differ_from_the_request_but_not_exceed_the_remaining_budget(ledger, clock):
    world = build_world(ledger, clock, budget_minor=400_000, max_award_minor=300_000)
    first = in_review(world, 0, requested_minor=250_000)
    second = in_review(world, 1, requested_minor=200_000)
    propose(world, first, 300_000)  # more than asked: the committee decides
    with pytest.raises(CallBudgetExceededError) as refused:
        propose(world, second, 100_001)
    assert refused.value.details["remaining_minor"] == 100_000
    propose(world, second, 100_000)
    assert world.run(lambda s: call_figures(s, world.call_id)).remaining_minor == 0


def test_the_proposer_cannot_approve_the_award(world):
    application_id = in_review(world)
    award_id = propose(world, application_id, 200_000)
    with pytest.raises(FourEyesError):
        world.run(
            lambda s: approve_award(s, award_id, actor_user_id=world.admin, clock=world.clock)
        )
    assert world.run(lambda s: get_award(s, award_id)).status == "proposed"
    assert position(world).committed_minor == 0


def test_the_database_itself_refuses_an_award_approved_by_its_proposer(world):
    application_id = in_review(world)
    award_id = propose(world, application_id, 200_000)

    def cheat(session: Session) -> None:
        session.execute(
            text("UPDATE awards SET approved_by_user_id = proposed_by_user_id WHERE id = :i"),
            {"i": award_id},
        )

    with pytest.raises(IntegrityError):
        world.run(cheat)


def test_approval_by_a_second_person_reserves_each_tranche_in_the_fund(world):
    application_id = in_review(world)
    award_id = propose(
        world,
        application_id,
        200_000,
        tranches=[TrancheSpec(120_000, "Acquisto attrezzi"), TrancheSpec(80_000, "Apertura")],
    )
    world.run(
        lambda s: approve_award(s, award_id, actor_user_id=world.treasurer, clock=world.clock)
    )
    tranches = world.run(lambda s: tranches_of(s, award_id))
    holds = world.run(lambda s: [get_hold(s, t.hold_id) for t in tranches])
    assert [(h.amount.minor, h.status) for h in holds] == [(120_000, "open"), (80_000, "open")]
    fund = position(world)
    assert (fund.cash_minor, fund.committed_minor, fund.available_minor) == (
        1_500_000,
        200_000,
        1_300_000,
    )
    assert world.run(lambda s: get_application(s, application_id)).status == "approved"


def test_an_award_the_fund_cannot_cover_is_refused_at_approval_and_leaves_no_trace(ledger, clock):
    world = build_world(ledger, clock, fund_money_minor=150_000)
    application_id = in_review(world)
    award_id = propose(world, application_id, 200_000)
    with pytest.raises(FundInsufficientError):
        world.run(
            lambda s: approve_award(s, award_id, actor_user_id=world.treasurer, clock=world.clock)
        )
    found = world.run(lambda s: get_award(s, award_id))
    assert (found.status, found.approved_by_user_id) == ("proposed", None)
    assert world.run(lambda s: [t.hold_id for t in tranches_of(s, award_id)]) == [None]
    fund = position(world)
    assert (fund.cash_minor, fund.committed_minor, fund.available_minor) == (150_000, 0, 150_000)


def approved_grant(world: World) -> tuple[int, int, list[int]]:
    application_id = in_review(world)
    award_id = propose(
        world,
        application_id,
        200_000,
        tranches=[TrancheSpec(120_000, "Acquisto attrezzi"), TrancheSpec(80_000, "Apertura")],
    )
    world.run(
        lambda s: approve_award(s, award_id, actor_user_id=world.treasurer, clock=world.clock)
    )
    tranche_ids = world.run(lambda s: [t.id for t in tranches_of(s, award_id)])
    return application_id, award_id, tranche_ids


def test_the_approver_of_a_tranche_cannot_pay_it(world):
    _application, _award, (first, _second) = approved_grant(world)
    world.run(lambda s: approve_tranche(s, first, actor_user_id=world.admin, clock=world.clock))
    with pytest.raises(FourEyesError):
        world.run(lambda s: pay_tranche(s, first, actor_user_id=world.admin, clock=world.clock))
    assert position(world).grants_paid_minor == 0


def test_the_next_tranche_waits_for_the_milestone_report(world):
    application_id, _award, (first, second) = approved_grant(world)
    proponent = world.proponents[0]
    world.run(lambda s: approve_tranche(s, first, actor_user_id=world.admin, clock=world.clock))
    world.run(lambda s: pay_tranche(s, first, actor_user_id=world.treasurer, clock=world.clock))
    assert world.run(lambda s: get_application(s, application_id)).status == "disbursing"
    with pytest.raises(MilestoneReportMissingError):
        world.run(
            lambda s: approve_tranche(s, second, actor_user_id=world.admin, clock=world.clock)
        )
    world.run(
        lambda s: report_milestone(
            s, first, proponent_user_id=proponent, report="Attrezzi comprati.", clock=world.clock
        )
    )
    world.run(lambda s: approve_tranche(s, second, actor_user_id=world.admin, clock=world.clock))
    world.run(lambda s: pay_tranche(s, second, actor_user_id=world.treasurer, clock=world.clock))
    fund = position(world)
    assert (fund.cash_minor, fund.committed_minor, fund.grants_paid_minor) == (
        1_300_000,
        0,
        200_000,
    )


def test_closing_releases_unpaid_tranches_and_money_given_back_returns_to_the_fund(world):
    application_id, award_id, (first, _second) = approved_grant(world)
    world.run(lambda s: approve_tranche(s, first, actor_user_id=world.admin, clock=world.clock))
    world.run(lambda s: pay_tranche(s, first, actor_user_id=world.treasurer, clock=world.clock))
    world.run(lambda s: close_award(s, award_id, actor_user_id=world.admin, clock=world.clock))
    fund = position(world)
    assert (fund.cash_minor, fund.committed_minor, fund.available_minor) == (
        1_380_000,
        0,
        1_380_000,
    )
    with pytest.raises(InvalidAwardError):
        world.run(
            lambda s: return_unspent(
                s, award_id, 120_001, actor_user_id=world.treasurer, clock=world.clock
            )
        )
    world.run(
        lambda s: return_unspent(
            s, award_id, 20_000, actor_user_id=world.treasurer, clock=world.clock
        )
    )
    fund = position(world)
    assert (fund.cash_minor, fund.grants_paid_minor) == (1_400_000, 100_000)
    award = world.run(lambda s: get_award(s, award_id))
    assert (award.status, award.released_minor, award.returned_minor) == ("closed", 80_000, 20_000)
    assert world.run(lambda s: [t.status for t in tranches_of(s, award_id)]) == [
        "paid",
        "released",
    ]
    assert world.run(lambda s: get_application(s, application_id)).status == "closed"
    # What was released and given back is budget the call can award again.
    assert world.run(lambda s: call_figures(s, world.call_id)).committed_minor == 100_000


def test_a_refused_proposal_sends_the_application_back_to_review(world):
    application_id = in_review(world)
    award_id = propose(world, application_id, 200_000)
    world.run(lambda s: refuse_award(s, award_id, actor_user_id=world.treasurer, clock=world.clock))
    assert world.run(lambda s: get_application(s, application_id)).status == "in_review"
    assert world.run(lambda s: call_figures(s, world.call_id)).committed_minor == 0
    propose(world, application_id, 150_000)


def test_a_loan_award_opens_the_loan_on_its_reservation_and_disburses_it(world):
    application_id = in_review(world, kind="loan")
    award_id = propose(
        world, application_id, 240_000, kind="loan", term_months=12, first_due_on=FIRST_DUE
    )
    world.run(
        lambda s: approve_award(s, award_id, actor_user_id=world.treasurer, clock=world.clock)
    )
    award = world.run(lambda s: get_award(s, award_id))
    loan = world.run(lambda s: s.get(Loan, award.loan_id))
    assert (loan.principal_minor, loan.hold_id, loan.status) == (240_000, award.hold_id, "approved")
    assert position(world).committed_minor == 240_000
    with pytest.raises(FourEyesError):
        world.run(
            lambda s: disburse_award_loan(
                s, award_id, actor_user_id=world.treasurer, clock=world.clock
            )
        )
    world.run(
        lambda s: disburse_award_loan(s, award_id, actor_user_id=world.admin, clock=world.clock)
    )
    fund = position(world)
    assert (fund.cash_minor, fund.committed_minor, fund.loans_outstanding_minor) == (
        1_260_000,
        0,
        240_000,
    )
    statuses = world.run(lambda s: [e.to_status for e in history(s, application_id)])
    assert statuses[-4:] == ["awarded", "approved", "disbursing", "closed"]


def test_the_history_of_an_application_is_append_only(world):
    application_id = apply(world, world.proponents[0])

    def tamper(session: Session) -> None:
        session.execute(
            text("UPDATE application_events SET to_status = 'approved' WHERE application_id = :i"),
            {"i": application_id},
        )

    with pytest.raises(DBAPIError):
        world.run(tamper)

    def erase(session: Session) -> None:
        session.execute(text("DELETE FROM application_events"))

    with pytest.raises(DBAPIError):
        world.run(erase)
    assert count(world, ApplicationEvent) == 2


def test_an_application_is_not_drafted_after_the_call_closed(world):
    later(world.clock, days=30)
    with pytest.raises(CallClosedError):
        apply(world, world.proponents[0], submit=False)
    assert count(world, Application) == 0
    assert count(world, Tranche) == 0


def test_a_loan_award_outside_its_products_limits_is_refused_at_proposal(world):
    application_id = in_review(world, kind="loan")
    with pytest.raises(InvalidAwardError) as refused:
        propose(world, application_id, 5_000, kind="loan", term_months=12, first_due_on=FIRST_DUE)
    assert refused.value.details["field"] == "amount"
    with pytest.raises(InvalidAwardError) as refused:
        propose(world, application_id, 100_000, kind="loan", term_months=48, first_due_on=FIRST_DUE)
    assert refused.value.details["field"] == "term_months"
    assert count(world, Award) == 0
