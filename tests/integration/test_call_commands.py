"""The use cases of calls for ideas, applications, reviews, awards and tranches.

An act that can be repeated (creating a call or an application; approving,
closing, disbursing an award, paying a tranche, booking a return) runs twice
with one key for one effect and one audit event, and the same key with another
request is a conflict that writes nothing. An act that cannot be repeated
(submit, withdraw, screen...) takes no key: it is audited once, and a refused
one writes nothing, its audit event included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.commands import Origin, declared
from ledger.core.errors import LedgerError
from ledger.core.service import Ledger
from ledger.funds import call_commands
from ledger.funds import service as funds
from ledger.funds.applications import ApplicationDraft, get_application
from ledger.funds.awards import approve_tranche, get_award, pay_tranche, tranches_of
from ledger.funds.call_errors import (
    ApplicationNotFoundError,
    ApplicationStateError,
    AwardStateError,
    ConflictOfInterestError,
    InvalidReviewError,
    NotOnCommitteeError,
    TrancheStateError,
)
from ledger.funds.call_models import Application, Call, ConflictDeclaration
from ledger.funds.calls import NewCall
from tests.integration.calls_world import (
    CLOSES,
    FIRST_DUE,
    OPENS,
    World,
    apply,
    build_world,
    eligible_answers,
)
from tests.integration.commands_helpers import assert_once, footprint
from tests.integration.test_calls import approved_grant, in_review, propose
from tests.integration.test_concurrency import in_parallel


@pytest.fixture
def world(ledger: Ledger, clock: Any) -> World:
    return build_world(ledger, clock)


def by(user_id: int) -> Origin:
    return Origin(channel="web", user_id=user_id, source="127.0.0.1")


def audited(world: World, action: str) -> list[str | None]:
    """The subjects of the audit events recorded under `action`, oldest first."""
    return world.run(
        lambda s: list(
            s.scalars(
                select(AuditEvent.subject_id)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.id)
            )
        )
    )


def audited_once(world: World, act: Callable[[Session], Any], action: str) -> Any:
    """Run a keyless act once: it is done (`created`) and adds one event under `action`."""
    before = len(audited(world, action))
    outcome = world.run(act)
    assert outcome.created is True
    assert len(audited(world, action)) == before + 1
    return outcome.value


def refused_writes_nothing(
    world: World, act: Callable[[Session], Any], error: type[LedgerError]
) -> None:
    """A refused act raises `error` and leaves every table as it was, the audit log too."""
    before = footprint(world.ledger)
    with pytest.raises(error):
        world.run(act)
    assert footprint(world.ledger) == before


def draft(title: str = "Orto condiviso", requested: int = 200_000) -> ApplicationDraft:
    return ApplicationDraft(
        title=title,
        summary="Un orto nel cortile della scuola, aperto al quartiere.",
        requested_minor=requested,
        kind="grant",
        answers={},
    )


# ------------------------------------------------------------------ declared once
def test_every_act_on_calls_is_declared_with_todays_audit_action() -> None:
    actions = {
        name
        for name in declared()
        if name.split(".")[0] in ("call", "application", "award", "tranche")
    }
    assert actions == {
        "call.create",
        "application.create",
        "application.update",
        "application.submit",
        "application.withdraw",
        "application.screen",
        "application.reject",
        "application.conflict",
        "application.review",
        "award.propose",
        "award.approve",
        "award.refuse",
        "award.close",
        "award.return",
        "award.disburse",
        "tranche.approve",
        "tranche.pay",
        "tranche.report",
    }


def test_an_act_on_a_call_needs_the_acting_user_in_its_origin(world: World) -> None:
    application_id = apply(world, world.proponents[0], submit=False)
    before = footprint(world.ledger)
    with pytest.raises(ValueError, match="acting user"):
        world.run(
            lambda s: call_commands.submit_application(
                s, application_id, origin=Origin(channel="cli"), clock=world.clock
            )
        )
    assert footprint(world.ledger) == before


# ------------------------------------------------------------------ acts with a key
def test_creating_a_call_twice_with_one_key_creates_one_and_audits_once(world: World) -> None:
    def spec(title: str) -> NewCall:
        return NewCall(
            fund_id=world.fund_id,
            title=title,
            description_md="",
            budget_minor=500_000,
            max_award_minor=100_000,
            currency="EUR",
            opens_at=OPENS,
            closes_at=CLOSES,
            award_kind="grant",
            questions=[("Residente?", True)],
            criteria=[("Impatto", 2)],
            reviewer_user_ids=world.reviewers,
        )

    def act(s: Session, key: str, title: str = "Seconda edizione") -> Any:
        return call_commands.create_call(
            s, spec(title), origin=by(world.admin), clock=world.clock, key=key
        )

    first = assert_once(world.ledger, act, lambda s, key: act(s, key, "Terza edizione"))
    assert world.run(lambda s: s.scalar(select(func.count()).select_from(Call))) == 2
    assert audited(world, "call.create") == [str(first.value.id)]


def test_creating_an_application_twice_with_one_key_saves_one_draft(world: World) -> None:
    proponent = world.proponents[0]

    def act(s: Session, key: str, requested: int = 200_000) -> Any:
        return call_commands.create_application(
            s,
            world.call_id,
            draft(requested=requested),
            origin=by(proponent),
            clock=world.clock,
            key=key,
        )

    first = assert_once(world.ledger, act, lambda s, key: act(s, key, 150_000))
    assert first.value.proponent_user_id == proponent
    assert audited(world, "application.create") == [str(first.value.id)]


def test_approving_an_award_twice_with_one_key_reserves_the_money_once(world: World) -> None:
    award_id = propose(world, in_review(world, 0), 200_000)
    other_id = propose(world, in_review(world, 1), 100_000)

    def act(s: Session, key: str, award: int = award_id) -> Any:
        return call_commands.approve_award(
            s, award, origin=by(world.treasurer), clock=world.clock, key=key
        )

    first = assert_once(world.ledger, act, lambda s, key: act(s, key, other_id))
    assert first.value.status == "approved"
    assert world.run(lambda s: funds.fund_position(s, world.fund_id)).committed_minor == 200_000
    assert audited(world, "award.approve") == [str(award_id)]


def test_paying_a_tranche_twice_with_one_key_pays_once(world: World) -> None:
    _application, _award, (first_tranche, second_tranche) = approved_grant(world)
    world.run(
        lambda s: approve_tranche(s, first_tranche, actor_user_id=world.admin, clock=world.clock)
    )

    def act(s: Session, key: str, tranche: int = first_tranche) -> Any:
        return call_commands.pay_tranche(
            s, tranche, origin=by(world.treasurer), clock=world.clock, key=key
        )

    first = assert_once(world.ledger, act, lambda s, key: act(s, key, second_tranche))
    assert first.value.status == "paid" and first.value.payment_ref
    assert world.run(lambda s: funds.fund_position(s, world.fund_id)).grants_paid_minor == 120_000
    assert audited(world, "tranche.pay") == [str(first_tranche)]


def test_closing_an_award_twice_with_one_key_releases_its_tranches_once(world: World) -> None:
    _application, award_id, _tranches = approved_grant(world)

    def act(s: Session, key: str, award: int = award_id) -> Any:
        return call_commands.close_award(
            s, award, origin=by(world.treasurer), clock=world.clock, key=key
        )

    first = assert_once(world.ledger, act, lambda s, key: act(s, key, award_id + 1))
    assert (first.value.status, first.value.released_minor) == ("closed", 200_000)
    assert world.run(lambda s: funds.fund_position(s, world.fund_id)).committed_minor == 0
    assert audited(world, "award.close") == [str(award_id)]


def test_a_return_twice_with_one_key_is_booked_once_and_another_amount_conflicts(
    world: World,
) -> None:
    _application, award_id, (first_tranche, _second) = approved_grant(world)

    def paid(s: Session) -> None:
        approve_tranche(s, first_tranche, actor_user_id=world.admin, clock=world.clock)
        pay_tranche(s, first_tranche, actor_user_id=world.treasurer, clock=world.clock)

    world.run(paid)

    def act(s: Session, key: str, amount: int = 20_000) -> Any:
        return call_commands.return_unspent(
            s, award_id, amount, origin=by(world.treasurer), clock=world.clock, key=key
        )

    first = assert_once(world.ledger, act, lambda s, key: act(s, key, 30_000))
    assert first.value.returned_minor == 20_000
    assert world.run(lambda s: funds.fund_position(s, world.fund_id)).grants_paid_minor == 100_000
    assert audited(world, "award.return") == [str(award_id)]


def test_disbursing_a_loan_award_twice_with_one_key_disburses_once(world: World) -> None:
    application_id = in_review(world, kind="loan")
    award_id = propose(
        world, application_id, 240_000, kind="loan", term_months=12, first_due_on=FIRST_DUE
    )
    world.run(
        lambda s: call_commands.approve_award(
            s, award_id, origin=by(world.treasurer), clock=world.clock
        )
    )

    def act(s: Session, key: str, award: int = award_id) -> Any:
        return call_commands.disburse_award_loan(
            s, award, origin=by(world.admin), clock=world.clock, key=key
        )

    first = assert_once(world.ledger, act, lambda s, key: act(s, key, award_id + 1))
    assert first.value.status == "closed"
    position = world.run(lambda s: funds.fund_position(s, world.fund_id))
    assert position.loans_outstanding_minor == 240_000
    assert audited(world, "award.disburse") == [str(award_id)]


def test_the_answers_of_a_draft_are_part_of_its_request(world: World) -> None:
    def act(s: Session, key: str, answers: dict[int, bool]) -> Any:
        return call_commands.create_application(
            s,
            world.call_id,
            ApplicationDraft(
                title="Orto condiviso",
                summary="Un orto.",
                requested_minor=100_000,
                kind="grant",
                answers=answers,
            ),
            origin=by(world.proponents[0]),
            clock=world.clock,
            key=key,
        )

    answers = eligible_answers(world)
    flipped = {q: not a for q, a in answers.items()}
    assert_once(
        world.ledger,
        lambda s, key: act(s, key, answers),
        lambda s, key: act(s, key, flipped),
    )


# ------------------------------------------------------------------ acts without a key
def test_updating_a_draft_is_audited_once_and_someone_elses_is_refused(world: World) -> None:
    application_id = apply(world, world.proponents[0], submit=False)

    def update(user_id: int) -> Callable[[Session], Any]:
        return lambda s: call_commands.update_application(
            s, application_id, draft("Orto e frutteto"), origin=by(user_id), clock=world.clock
        )

    found = audited_once(world, update(world.proponents[0]), "application.update")
    assert found.title == "Orto e frutteto"
    refused_writes_nothing(world, update(world.proponents[1]), ApplicationNotFoundError)


def test_submitting_is_audited_once_and_someone_elses_draft_is_refused(world: World) -> None:
    application_id = apply(world, world.proponents[0], submit=False)

    def submit(user_id: int) -> Callable[[Session], Any]:
        return lambda s: call_commands.submit_application(
            s, application_id, origin=by(user_id), clock=world.clock
        )

    refused_writes_nothing(world, submit(world.proponents[1]), ApplicationNotFoundError)
    assert audited_once(world, submit(world.proponents[0]), "application.submit").status == (
        "submitted"
    )


def test_withdrawing_is_audited_once_and_a_rejected_idea_cannot_be_withdrawn(
    world: World,
) -> None:
    proponent = world.proponents[0]
    application_id = apply(world, proponent)

    def withdraw(target: int) -> Callable[[Session], Any]:
        return lambda s: call_commands.withdraw_application(
            s, target, origin=by(proponent), clock=world.clock
        )

    assert audited_once(world, withdraw(application_id), "application.withdraw").status == (
        "withdrawn"
    )
    rejected = in_review(world, 1)
    world.run(
        lambda s: call_commands.reject_application(
            s, rejected, origin=by(world.admin), clock=world.clock
        )
    )
    refused_writes_nothing(
        world,
        lambda s: call_commands.withdraw_application(
            s, rejected, origin=by(world.proponents[1]), clock=world.clock
        ),
        ApplicationStateError,
    )


def test_screening_is_audited_once_with_its_result_and_cannot_be_done_twice(world: World) -> None:
    application_id = apply(world, world.proponents[0])

    def screen(s: Session) -> Any:
        return call_commands.screen_application(
            s, application_id, origin=by(world.admin), clock=world.clock
        )

    assert audited_once(world, screen, "application.screen").status == "in_review"
    details = world.run(
        lambda s: s.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "application.screen")
        ).one()
    )
    assert details == {"status": "in_review"}
    refused_writes_nothing(world, screen, ApplicationStateError)


def test_rejecting_is_audited_once_and_cannot_be_done_twice(world: World) -> None:
    application_id = in_review(world)

    def reject(s: Session) -> Any:
        return call_commands.reject_application(
            s, application_id, note="Fuori tema", origin=by(world.admin), clock=world.clock
        )

    assert audited_once(world, reject, "application.reject").status == "rejected"
    refused_writes_nothing(world, reject, ApplicationStateError)


def test_a_declaration_is_audited_once_and_an_outsider_is_refused(world: World) -> None:
    application_id = in_review(world)

    def declare(user_id: int) -> Callable[[Session], Any]:
        return lambda s: call_commands.declare_conflict(
            s, application_id, conflicted=False, origin=by(user_id), clock=world.clock
        )

    assert audited_once(world, declare(world.reviewers[0]), "application.conflict").conflicted is (
        False
    )
    refused_writes_nothing(world, declare(world.outsider_reviewer), NotOnCommitteeError)


def test_a_reviewer_who_is_the_proponent_cannot_declare_no_conflict_nor_score_their_idea(
    world: World,
) -> None:
    """The committee member applied to the call they review: "no conflict" is refused and
    so is a score, with nothing written; declaring the conflict is what they may do."""
    member = world.reviewers[0]
    application_id = apply(world, member, title="La mia idea")
    world.run(
        lambda s: call_commands.screen_application(
            s, application_id, origin=by(world.admin), clock=world.clock
        )
    )

    def declare(conflicted: bool) -> Callable[[Session], Any]:
        return lambda s: call_commands.declare_conflict(
            s, application_id, conflicted=conflicted, origin=by(member), clock=world.clock
        )

    def score(s: Session) -> Any:
        return call_commands.score_application(
            s,
            application_id,
            scores=dict.fromkeys(world.criteria, 10),
            comment="Ottima.",
            origin=by(member),
            clock=world.clock,
        )

    refused_writes_nothing(world, declare(False), ConflictOfInterestError)
    refused_writes_nothing(world, score, ConflictOfInterestError)
    assert audited_once(world, declare(True), "application.conflict").conflicted is True
    refused_writes_nothing(world, score, ConflictOfInterestError)


def test_a_no_conflict_declaration_of_the_proponent_kept_from_before_still_cannot_score(
    world: World,
) -> None:
    """A "no conflict" the proponent recorded before the rule existed gives no right to
    score their own application."""
    member = world.reviewers[0]
    application_id = apply(world, member, title="La mia idea")
    world.run(
        lambda s: call_commands.screen_application(
            s, application_id, origin=by(world.admin), clock=world.clock
        )
    )

    def kept(s: Session) -> None:
        s.add(
            ConflictDeclaration(
                application_id=application_id,
                reviewer_user_id=member,
                conflicted=False,
                declared_at=world.clock.now(),
            )
        )

    world.run(kept)
    refused_writes_nothing(
        world,
        lambda s: call_commands.score_application(
            s,
            application_id,
            scores=dict.fromkeys(world.criteria, 10),
            comment="",
            origin=by(member),
            clock=world.clock,
        ),
        ConflictOfInterestError,
    )


def test_a_review_is_audited_once_and_a_second_review_is_refused(world: World) -> None:
    application_id = in_review(world)
    reviewer = world.reviewers[0]
    world.run(
        lambda s: call_commands.declare_conflict(
            s, application_id, conflicted=False, origin=by(reviewer), clock=world.clock
        )
    )

    def score(s: Session) -> Any:
        return call_commands.score_application(
            s,
            application_id,
            scores=dict.fromkeys(world.criteria, 7),
            comment="Solida.",
            origin=by(reviewer),
            clock=world.clock,
        )

    review = audited_once(world, score, "application.review")
    details = world.run(
        lambda s: s.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "application.review")
        ).one()
    )
    assert details == {"review_id": review.id}
    refused_writes_nothing(world, score, InvalidReviewError)


def test_a_proposal_is_audited_once_and_a_second_one_is_refused(world: World) -> None:
    application_id = in_review(world)

    def proposal(s: Session) -> Any:
        return call_commands.propose_award(
            s,
            application_id,
            amount_minor=150_000,
            kind="grant",
            origin=by(world.admin),
            clock=world.clock,
        )

    award = audited_once(world, proposal, "award.propose")
    assert world.run(lambda s: get_application(s, application_id).status) == "awarded"
    assert audited(world, "award.propose") == [str(award.id)]
    refused_writes_nothing(world, proposal, ApplicationStateError)


def test_refusing_a_proposal_is_audited_once_and_cannot_be_done_twice(world: World) -> None:
    award_id = propose(world, in_review(world), 150_000)

    def refuse(s: Session) -> Any:
        return call_commands.refuse_award(
            s, award_id, origin=by(world.treasurer), clock=world.clock
        )

    assert audited_once(world, refuse, "award.refuse").status == "refused"
    refused_writes_nothing(world, refuse, AwardStateError)


def test_approving_a_tranche_is_audited_once_and_the_next_one_waits(world: World) -> None:
    _application, award_id, (first_tranche, second_tranche) = approved_grant(world)

    def approve(tranche: int) -> Callable[[Session], Any]:
        return lambda s: call_commands.approve_tranche(
            s, tranche, origin=by(world.admin), clock=world.clock
        )

    assert audited_once(world, approve(first_tranche), "tranche.approve").status == "approved"
    refused_writes_nothing(world, approve(second_tranche), TrancheStateError)
    details = world.run(
        lambda s: s.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "tranche.approve")
        ).one()
    )
    assert details == {"award_id": award_id}


def test_a_milestone_report_is_audited_once_and_cannot_be_sent_twice(world: World) -> None:
    application_id, award_id, (first_tranche, _second) = approved_grant(world)

    def paid(s: Session) -> None:
        approve_tranche(s, first_tranche, actor_user_id=world.admin, clock=world.clock)
        pay_tranche(s, first_tranche, actor_user_id=world.treasurer, clock=world.clock)

    world.run(paid)
    proponent = world.run(
        lambda s: s.get(Application, application_id).proponent_user_id  # type: ignore[union-attr]
    )

    def report(s: Session) -> Any:
        return call_commands.report_milestone(
            s, first_tranche, report="Attrezzi comprati.", origin=by(proponent), clock=world.clock
        )

    assert audited_once(world, report, "tranche.report").reported_at is not None
    refused_writes_nothing(world, report, TrancheStateError)
    assert world.run(lambda s: get_award(s, award_id).status) == "approved"


# ------------------------------------------------------------------ concurrency
@pytest.mark.postgres_only
def test_concurrent_payments_of_a_tranche_with_one_key_pay_it_once(
    pg_ledger: Ledger, clock: Any
) -> None:
    world = build_world(pg_ledger, clock)
    _application, award_id, (first_tranche, _second) = approved_grant(world)
    world.run(
        lambda s: approve_tranche(s, first_tranche, actor_user_id=world.admin, clock=world.clock)
    )

    def pay(_: int) -> bool:
        return bool(
            pg_ledger.run(
                lambda s: call_commands.pay_tranche(
                    s, first_tranche, origin=by(world.treasurer), clock=clock, key="once"
                )
            ).created
        )

    outcomes = in_parallel(4, pay)
    assert [o.error for o in outcomes] == [None] * 4
    assert sorted(o.value for o in outcomes) == [False, False, False, True]
    assert world.run(lambda s: funds.fund_position(s, world.fund_id)).grants_paid_minor == 120_000
    assert audited(world, "tranche.pay") == [str(first_tranche)]
    assert world.run(lambda s: [t.status for t in tranches_of(s, award_id)]) == ["paid", "planned"]
