"""A call for ideas from opening to the loan's late repayments, and the books after it.

The whole path of issue 6: a call opens; three proponents apply; one
withdraws; a late submission is refused; a reviewer who declared a conflict is
refused; two ideas are scored and ranked; one grant in two tranches and one
zero-interest loan are awarded, each approved by a second person; the grant is
paid tranche by tranche (the second only after the milestone report) and part
of it comes back unspent; the loan is disbursed and repaid late, and its
repayments refill the fund's available money. Every account of the fund is
asserted, and the fund statement for the period agrees with the engine.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.accounts import FundAccounts
from ledger.funds.applications import (
    ApplicationDraft,
    create_application,
    get_application,
    history,
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
    report_milestone,
    return_unspent,
    tranches_of,
)
from ledger.funds.call_errors import (
    CallClosedError,
    ConflictOfInterestError,
    FourEyesError,
    MilestoneReportMissingError,
)
from ledger.funds.calls import NewCall, call_figures, create_call, criteria_of, questions_of
from ledger.funds.reviews import declare_conflict, ranking, score_application
from ledger.people.models import User
from ledger.people.service import NewPerson, create_user
from ledger.statements.funds import fund_statement


def on(ledger: Ledger, day: date) -> None:
    assert isinstance(ledger.clock, FixedClock)
    ledger.clock.instant = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def test_a_call_awards_a_grant_in_tranches_and_a_loan_repaid_late_and_the_books_agree(
    ledger: Ledger,
) -> None:
    on(ledger, date(2026, 1, 10))
    clock = ledger.clock

    def setup(session: Session) -> dict[str, int]:
        ids: dict[str, int] = {}
        for name, role in (
            ("admin", "admin"),
            ("treasurer", "treasurer"),
            ("r1", "reviewer"),
            ("r2", "reviewer"),
            ("p1", "proponent"),
            ("p2", "proponent"),
            ("p3", "proponent"),
        ):
            user = create_user(
                session,
                NewPerson(email=f"{name}@example.org", full_name=f"Persona {name}"),
                roles=[role],
                password=None,
                now=clock.now(),
            )
            ids[name] = user.id
        fund = funds.create_fund(session, name="Fondo #genera_idee", kind="revolving", clock=clock)
        funds.deposit(
            session,
            fund.id,
            1_500_000,
            source="foundation_grant",
            key="fondazione-2026",
            clock=clock,
            effective_on=date(2026, 1, 5),
        )
        funds.deposit(
            session,
            fund.id,
            200_000,
            source="donation",
            key="campagna-2026",
            clock=clock,
            effective_on=date(2026, 1, 8),
        )
        product = lending.create_loan_product(
            session,
            fund_id=fund.id,
            name="Microprestito a tasso zero",
            min_amount_minor=50_000,
            max_amount_minor=500_000,
            annual_rate="0",
            method="declining_equal_instalments",
            min_term_months=6,
            max_term_months=24,
            clock=clock,
        )
        call = create_call(
            session,
            NewCall(
                fund_id=fund.id,
                title="#genera_idee 2026",
                description_md="",
                budget_minor=800_000,
                max_award_minor=500_000,
                currency="EUR",
                # 1 February 00:00 to 28 February 23:59 in Rome
                opens_at=datetime(2026, 1, 31, 23, 0, tzinfo=UTC),
                closes_at=datetime(2026, 2, 28, 22, 59, tzinfo=UTC),
                award_kind="either",
                questions=[("Il progetto si svolge a Brescia?", True)],
                criteria=[("Impatto sociale", 3), ("Fattibilità", 2), ("Originalità", 1)],
                reviewer_user_ids=[ids["r1"], ids["r2"]],
                loan_product_id=product.id,
            ),
            actor_user_id=ids["admin"],
            clock=clock,
        )
        ids.update(fund=fund.id, call=call.id)
        ids["question"] = questions_of(session, call.id)[0].id
        return ids

    ids = ledger.run(setup)
    fund_id, call_id = ids["fund"], ids["call"]
    a = FundAccounts(fund_id)

    # February: three proponents apply; the third withdraws.
    on(ledger, date(2026, 2, 10))

    def applied(proponent: str, title: str, requested: int, kind: str) -> int:
        def work(session: Session) -> int:
            found = create_application(
                session,
                call_id,
                ApplicationDraft(
                    title=title,
                    summary="Un'idea per il quartiere.",
                    requested_minor=requested,
                    kind=kind,
                    answers={ids["question"]: True},
                ),
                proponent_user_id=ids[proponent],
                clock=clock,
            )
            submit_application(session, found.id, proponent_user_id=ids[proponent], clock=clock)
            return found.id

        return int(ledger.run(work))

    grant_idea = applied("p1", "Orto condiviso", 300_000, "grant")
    loan_idea = applied("p2", "Laboratorio di sartoria", 250_000, "loan")
    third = applied("p3", "Cineforum", 100_000, "grant")
    on(ledger, date(2026, 2, 15))
    ledger.run(lambda s: withdraw_application(s, third, proponent_user_id=ids["p3"], clock=clock))
    # A draft left until after the close cannot be submitted any more.
    late_draft = ledger.run(
        lambda s: (
            create_application(
                s,
                call_id,
                ApplicationDraft("Idea tardiva", "Arriva tardi.", 50_000, "grant", {}),
                proponent_user_id=ids["p3"],
                clock=clock,
            ).id
        )
    )
    on(ledger, date(2026, 3, 1))
    with pytest.raises(CallClosedError):
        ledger.run(
            lambda s: submit_application(s, late_draft, proponent_user_id=ids["p3"], clock=clock)
        )
    assert ledger.read(lambda s: get_application(s, late_draft).status) == "draft"

    # March: screening, the committee, the ranking.
    on(ledger, date(2026, 3, 5))
    for application_id in (grant_idea, loan_idea):
        ledger.run(
            lambda s, i=application_id: screen_application(
                s, i, actor_user_id=ids["admin"], clock=clock
            )
        )
    criteria = ledger.read(lambda s: [c.id for c in criteria_of(s, call_id)])

    def scored(application_id: int, reviewer: str, marks: tuple[int, int, int]) -> None:
        ledger.run(
            lambda s: score_application(
                s,
                application_id,
                reviewer_user_id=ids[reviewer],
                scores=dict(zip(criteria, marks, strict=True)),
                comment="",
                clock=clock,
            )
        )

    ledger.run(
        lambda s: declare_conflict(
            s, loan_idea, reviewer_user_id=ids["r1"], conflicted=True, clock=clock
        )
    )
    with pytest.raises(ConflictOfInterestError):
        scored(loan_idea, "r1", (10, 10, 10))
    for application_id, reviewer in ((grant_idea, "r1"), (grant_idea, "r2"), (loan_idea, "r2")):
        ledger.run(
            lambda s, i=application_id, r=reviewer: declare_conflict(
                s, i, reviewer_user_id=ids[r], conflicted=False, clock=clock
            )
        )
    scored(grant_idea, "r1", (9, 8, 7))  # 50/6
    scored(grant_idea, "r2", (8, 8, 8))  # 8
    scored(loan_idea, "r2", (7, 9, 6))  # 45/6 = 7.5
    ranked = ledger.read(
        lambda s: [
            (r.application.id, r.rank, str(r.shown_score), r.reviews, r.conflicts)
            for r in ranking(s, call_id)
        ]
    )
    assert ranked == [(grant_idea, 1, "8.17", 2, 0), (loan_idea, 2, "7.50", 1, 1)]

    # Awards: the admin proposes, the treasurer approves (the admin cannot).
    on(ledger, date(2026, 3, 10))
    grant_award = ledger.run(
        lambda s: (
            propose_award(
                s,
                grant_idea,
                amount_minor=300_000,
                kind="grant",
                tranches=[
                    TrancheSpec(180_000, "Cassoni e attrezzi"),
                    TrancheSpec(120_000, "Corso"),
                ],
                actor_user_id=ids["admin"],
                clock=clock,
            ).id
        )
    )
    loan_award = ledger.run(
        lambda s: (
            propose_award(
                s,
                loan_idea,
                amount_minor=240_000,  # less than the 2,500.00 asked
                kind="loan",
                term_months=12,
                first_due_on=date(2026, 4, 10),
                actor_user_id=ids["admin"],
                clock=clock,
            ).id
        )
    )
    with pytest.raises(FourEyesError):
        ledger.run(lambda s: approve_award(s, grant_award, actor_user_id=ids["admin"], clock=clock))
    on(ledger, date(2026, 3, 12))
    for award_id in (grant_award, loan_award):
        ledger.run(
            lambda s, i=award_id: approve_award(s, i, actor_user_id=ids["treasurer"], clock=clock)
        )
    position = ledger.read(lambda s: funds.fund_position(s, fund_id))
    assert (position.cash_minor, position.committed_minor, position.available_minor) == (
        1_700_000,
        540_000,
        1_160_000,
    )
    assert ledger.read(lambda s: call_figures(s, call_id)).remaining_minor == 260_000

    # The grant: tranche 1 paid; tranche 2 waits for the milestone report.
    on(ledger, date(2026, 3, 15))
    first, second = ledger.read(lambda s: [t.id for t in tranches_of(s, grant_award)])
    ledger.run(lambda s: approve_tranche(s, first, actor_user_id=ids["admin"], clock=clock))
    ledger.run(lambda s: pay_tranche(s, first, actor_user_id=ids["treasurer"], clock=clock))
    with pytest.raises(MilestoneReportMissingError):
        ledger.run(lambda s: approve_tranche(s, second, actor_user_id=ids["admin"], clock=clock))
    # The loan is disbursed by someone other than its approver.
    ledger.run(
        lambda s: disburse_award_loan(s, loan_award, actor_user_id=ids["admin"], clock=clock)
    )
    loan_id = ledger.read(lambda s: get_award(s, loan_award).loan_id)
    assert loan_id is not None
    borrower = ledger.read(lambda s: s.get(User, ids["p2"]).person_id)
    assert ledger.read(lambda s: lending.get_loan(s, loan_id).borrower_person_id) == borrower

    on(ledger, date(2026, 4, 20))
    ledger.run(
        lambda s: report_milestone(
            s, first, proponent_user_id=ids["p1"], report="Cassoni montati.", clock=clock
        )
    )
    ledger.run(lambda s: approve_tranche(s, second, actor_user_id=ids["admin"], clock=clock))
    on(ledger, date(2026, 4, 25))
    ledger.run(lambda s: pay_tranche(s, second, actor_user_id=ids["treasurer"], clock=clock))

    # The loan's April instalment (200.00) is 44 days late on 24 May: the fund is at risk.
    on(ledger, date(2026, 5, 24))
    detail = ledger.read(lambda s: lending.loan_detail(s, loan_id, on=date(2026, 5, 24)))
    assert detail.days_past_due == 44
    at_risk = ledger.read(lambda s: funds.fund_position(s, fund_id, on=date(2026, 5, 24)))
    assert (at_risk.loans_at_risk, at_risk.at_risk_minor, at_risk.loans_outstanding_minor) == (
        1,
        240_000,
        240_000,
    )
    available_before = at_risk.available_minor

    # Late repayments; each refills the fund's available money.
    for day in (date(2026, 5, 25), date(2026, 6, 20), date(2026, 7, 5)):
        on(ledger, day)
        ledger.run(
            lambda s, d=day: lending.record_repayment(
                s, loan_id, 20_000, received_on=d, key=f"rata-{d.isoformat()}", clock=clock
            )
        )
    # The proponent gives back 150.00 unspent; the award closes (nothing left to release).
    on(ledger, date(2026, 7, 20))
    ledger.run(
        lambda s: return_unspent(
            s, grant_award, 15_000, actor_user_id=ids["treasurer"], clock=clock
        )
    )
    ledger.run(lambda s: close_award(s, grant_award, actor_user_id=ids["admin"], clock=clock))

    on(ledger, date(2026, 7, 31))
    position = ledger.read(lambda s: funds.fund_position(s, fund_id, on=date(2026, 7, 31)))
    assert position.available_minor == available_before + 60_000 + 15_000
    assert position.loans_at_risk == 0  # the July instalment is 21 days late: under 30

    # Every account of the fund, by hand.
    expected = {
        a.cash: 1_500_000 + 200_000 - 180_000 - 120_000 - 240_000 + 3 * 20_000 + 15_000,
        a.capital: 1_700_000,
        a.grants: 300_000 - 15_000,
        a.loans_receivable: 240_000 - 3 * 20_000,
        a.interest: 0,
        a.fees: 0,
        a.provision: 0,
        a.loan_losses: 0,
        a.recoveries: 0,
        a.overpayments: 0,
    }
    assert expected[a.cash] == 1_235_000
    assert {code: ledger.balance(code).posted for code in expected} == expected
    assert {code: ledger.balance(code).pending for code in expected} == dict.fromkeys(expected, 0)
    assert (position.cash_minor, position.committed_minor, position.available_minor) == (
        1_235_000,
        0,
        1_235_000,
    )
    assert position.grants_paid_minor == 285_000
    assert position.loans_outstanding_minor == 180_000

    # The applications' states and who moved them.
    states = ledger.read(
        lambda s: {i: get_application(s, i).status for i in (grant_idea, loan_idea, third)}
    )
    assert states == {grant_idea: "closed", loan_idea: "closed", third: "withdrawn"}
    approver = ledger.read(
        lambda s: next(e.actor_user_id for e in history(s, grant_idea) if e.to_status == "approved")
    )
    assert approver == ids["treasurer"]

    def award_state(session: Session) -> tuple[str, int, int]:
        found = get_award(session, grant_award)
        return found.status, found.released_minor, found.returned_minor

    award = ledger.read(award_state)
    assert award == ("closed", 0, 15_000)

    # The fund statement for January-July agrees with the engine.
    statement = ledger.read(
        lambda s: fund_statement(s, fund_id, date(2026, 1, 1), date(2026, 7, 31))
    )
    assert statement.opening_cash_minor == 0
    assert statement.money_in_by_source == {"foundation_grant": 1_500_000, "donation": 200_000}
    assert (statement.grants_paid_minor, statement.grants_returned_minor) == (300_000, 15_000)
    assert (
        statement.grants_paid_minor - statement.grants_returned_minor
        == ledger.balance(a.grants).posted
    )
    assert statement.loans_disbursed_minor == 240_000
    assert (statement.repaid_principal_minor, statement.repaid_interest_minor) == (60_000, 0)
    assert statement.loans_outstanding_minor == ledger.balance(a.loans_receivable).posted
    assert (
        statement.closing_cash_minor
        == statement.opening_cash_minor + statement.cash_movement_minor
        == ledger.balance(a.cash, as_of=date(2026, 7, 31)).posted
        == 1_235_000
    )
    assert ledger.verify().ok
