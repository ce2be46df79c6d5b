"""Property: random expenses, charges, budget revisions, money in, and volunteers enrolled
in and ended from the register with their hours keep every report total equal to the
journal, allocations never above their documents, the grant due never above the grant,
each volunteer's periods apart (one open at most), and every hour counted inside a
period of its volunteer.

Each example builds its own project (with its own funder and partner) in the test's
database, so the examples never see each other's figures; refused acts (a charge beyond
a document) must leave the journal head where it was.
"""

from __future__ import annotations

import itertools
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ledger.commands import Origin
from ledger.core.balances import balance
from ledger.core.errors import AccountNotFoundError
from ledger.core.models import LedgerHead
from ledger.grants import service as grants
from ledger.people.service import NewPerson, create_user
from ledger.projects import accounts, commands
from ledger.projects.errors import (
    EnrolmentNotFoundError,
    InvalidProjectError,
    OverAllocatedError,
    VolunteerRegisterError,
)
from ledger.projects.expenses import AllocationSpec
from ledger.projects.getters import funders_of
from ledger.projects.models import (
    FIGURATIVE_SOURCES,
    ExpenseAllocation,
    FigurativeItem,
    ProjectDocument,
    VolunteerEnrolment,
)
from ledger.projects.report import funder_report
from ledger.projects.service import FunderSettings, LineSpec, SourceAmount

CODES = ("A.1", "B.1", "C.1")
SOURCES = ("grant", "partner", "own", "fundraising")
GRANT = 5_000_000
_counter = itertools.count()

amounts = st.integers(min_value=1, max_value=2_000_000)
expense = st.tuples(
    st.just("expense"),
    amounts,  # net
    st.integers(min_value=0, max_value=400_000),  # VAT
    st.booleans(),  # VAT recoverable
    st.lists(
        st.tuples(st.sampled_from(CODES), st.sampled_from(SOURCES), amounts), min_size=1, max_size=3
    ),
    st.sampled_from(("bank", "payable")),
    st.integers(min_value=1, max_value=360),  # day of 2026
)
charge = st.tuples(
    st.just("charge"),
    st.integers(min_value=0, max_value=20),
    st.sampled_from(CODES),
    st.sampled_from(SOURCES),
    amounts,
)
revise = st.tuples(st.just("revise"), st.lists(amounts, min_size=3, max_size=3))
money_in = st.tuples(st.sampled_from(("advance", "contribution")), amounts)
volunteering = st.tuples(
    st.sampled_from(("enrol", "end", "hours")),
    st.integers(min_value=0, max_value=1),  # which of two volunteers
    st.integers(min_value=1, max_value=360),  # day of 2026
    st.integers(min_value=1, max_value=600),  # minutes
)
operations = st.lists(
    st.one_of(expense, charge, revise, money_in, volunteering), min_size=1, max_size=12
)
REFUSED = (OverAllocatedError, InvalidProjectError, VolunteerRegisterError, EnrolmentNotFoundError)


def _posted(session, code, as_of=None):
    try:
        return balance(session, code, as_of).posted
    except AccountNotFoundError:
        return 0


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_reports_equal_the_journal_and_never_exceed_documents_or_the_grant(ledger, clock, ops):
    n = next(_counter)

    def setup(session):
        now = clock.now()
        users = [
            create_user(
                session,
                NewPerson(email=f"u{n}-{i}@example.org", full_name="Staff"),
                roles=["treasurer"],
                password=None,
                now=now,
            ).id
            for i in (1, 2)
        ]
        volunteers = [
            create_user(
                session,
                NewPerson(email=f"v{n}-{i}@example.org", full_name="Volontario"),
                roles=["donor"],
                password=None,
                now=now,
            ).person_id
            for i in (1, 2)
        ]
        foundation = grants.create_foundation(session, name=f"Fondazione {n}", now=now).id
        origin = Origin(channel="web", user_id=users[0])
        orgs = [
            commands.create_organisation(
                session, name=f"Org {n}-{i}", kind="association", origin=origin, clock=clock
            ).value.id
            for i in (1, 2)
        ]
        project = commands.create_project(
            session,
            title=f"Progetto {n}",
            lead_organisation_id=orgs[0],
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
            partners=[(orgs[1], "partner"), (orgs[0], "supplier")],
            funders=[FunderSettings(foundation, GRANT)],
            origin=origin,
            clock=clock,
        ).value.id
        commands.set_volunteer_rate(
            session,
            role=f"ruolo {n}",
            hourly_minor=1_850,
            valid_from=date(2026, 1, 1),
            origin=origin,
            clock=clock,
        )
        return users, volunteers, foundation, orgs, project, funders_of(session, project)[0].id

    users, volunteers, foundation, orgs, project, funder = ledger.run(setup)
    first, second = (Origin(channel="web", user_id=u) for u in users)

    def refs(source):
        return {"grant": funder, "partner": orgs[1]}.get(source, 0)

    def budget(values):
        lines = [
            LineSpec(
                code,
                "services",
                f"Voce {code}",
                (
                    SourceAmount("grant", value // 2, funder),
                    SourceAmount("partner", value - value // 2, orgs[1]),
                ),
            )
            for code, value in zip(CODES, values, strict=True)
        ]
        total_grant = sum(v // 2 for v in values)
        if total_grant > GRANT:
            return
        version = ledger.run(
            lambda s: commands.propose_budget(s, project, lines, origin=first, clock=clock)
        ).value.id
        ledger.run(lambda s: commands.approve_budget(s, version, origin=second, clock=clock))

    budget([1_000_000, 1_000_000, 1_000_000])
    documents: list[int] = []

    def step(session, op, key):
        if op[0] == "expense":
            _, net, vat, recoverable, parts, paid_by, day = op
            done = commands.record_expense(
                session,
                project,
                kind="invoice",
                supplier_id=orgs[0],
                number=key,
                issued_on=date.fromordinal(date(2026, 1, 1).toordinal() + day - 1),
                net_minor=net,
                vat_minor=vat,
                vat_recoverable=recoverable,
                paid_by=paid_by,
                allocations=[AllocationSpec(c, src, a, refs(src)) for c, src, a in parts],
                origin=first,
                clock=clock,
                key=key,
            ).value
            documents.append(done.document_id)
        elif op[0] == "charge" and documents:
            _, index, code, source, amount = op
            commands.charge_document(
                session,
                documents[index % len(documents)],
                [AllocationSpec(code, source, amount, refs(source))],
                origin=first,
                clock=clock,
                key=key,
            )
        elif op[0] in ("enrol", "end", "hours"):
            _, who, day, minutes = op
            person = volunteers[who]
            on = date.fromordinal(date(2026, 1, 1).toordinal() + day - 1)
            if op[0] == "enrol":
                commands.enrol_volunteer(
                    session, person_id=person, enrolled_on=on, origin=first, clock=clock, key=key
                )
            elif op[0] == "end":
                commands.end_volunteer(
                    session, person_id=person, ended_on=on, origin=first, clock=clock, key=key
                )
            else:
                commands.record_volunteer_hours(
                    session,
                    project,
                    person_id=person,
                    activity="Doposcuola",
                    role=f"ruolo {n}",
                    minutes=minutes,
                    done_on=on,
                    origin=first,
                    clock=clock,
                    key=key,
                )
        elif op[0] == "advance":
            commands.receive_grant(
                session,
                project,
                funder,
                op[1],
                received_on=date(2026, 6, 1),
                origin=first,
                clock=clock,
                key=key,
            )
        elif op[0] == "contribution":
            commands.receive_contribution(
                session,
                project,
                orgs[1],
                op[1],
                received_on=date(2026, 6, 1),
                origin=first,
                clock=clock,
                key=key,
            )

    def head():
        return ledger.read(
            lambda s: (
                s.scalar(select(LedgerHead.last_sequence)),
                s.scalar(select(func.count(VolunteerEnrolment.id))),
                s.scalar(
                    select(func.count(VolunteerEnrolment.id)).where(
                        VolunteerEnrolment.ended_on.is_not(None)
                    )
                ),
            )
        )

    for number, op in enumerate(ops):
        if op[0] == "revise":
            budget(op[1])
            continue
        before = head()
        try:
            ledger.run(lambda s, op=op, key=f"{n}-{number}": step(s, op, key))
        except REFUSED:
            assert head() == before

    def check(session):
        r = funder_report(session, project, foundation, date(2026, 1, 1), date(2026, 12, 31))
        for line in r.lines:
            assert line.actual_minor == _posted(session, accounts.line(project, line.code))
        # The lines are cash; volunteer time is a figurative source beside them, equal to
        # its figurative cost account and to the hours' values.
        cash = [x for x in r.sources if x.source not in FIGURATIVE_SOURCES]
        assert sum(x.actual_minor for x in r.lines) == sum(x.actual_minor for x in cash)
        volunteered = sum(x.actual_minor for x in r.sources if x.source == "volunteer")
        assert volunteered == r.figurative.volunteer_minor
        assert volunteered == _posted(session, accounts.figurative_cost(project, "volunteer"))
        assert r.total_actual_minor == sum(x.actual_minor for x in r.lines)
        assert r.total_budget_minor == sum(x.budget_minor for x in r.lines)
        assert 0 <= r.grant_due_minor <= r.grant_minor
        assert r.advances_minor == _posted(session, accounts.grants(project, funder))
        over = session.execute(
            select(ProjectDocument.id)
            .join(ExpenseAllocation, ExpenseAllocation.document_id == ProjectDocument.id)
            .where(ProjectDocument.project_id == project)
            .group_by(ProjectDocument.id, ProjectDocument.eligible_minor)
            .having(func.sum(ExpenseAllocation.amount_minor) > ProjectDocument.eligible_minor)
        ).all()
        assert over == []
        for d in r.documents:
            assert d.charged_minor <= d.eligible_minor
        # Every document's gross amount is in the lines or in not-charged.
        gross = sum(
            (doc.net_minor + doc.vat_minor)
            for doc in session.scalars(
                select(ProjectDocument).where(ProjectDocument.project_id == project)
            )
        )
        assert gross == r.total_actual_minor + _posted(session, accounts.not_charged(project))
        for person in volunteers:
            periods = [
                (e.enrolled_on, e.ended_on or date.max)
                for e in session.scalars(
                    select(VolunteerEnrolment)
                    .where(VolunteerEnrolment.person_id == person)
                    .order_by(VolunteerEnrolment.enrolled_on)
                )
            ]
            assert [end for _start, end in periods].count(date.max) <= 1
            for (_s1, end), (start, _e2) in itertools.pairwise(periods):
                assert end < start  # apart, in order
            for day in session.scalars(
                select(FigurativeItem.done_on).where(FigurativeItem.person_id == person)
            ):
                assert any(start <= day <= end for start, end in periods)

    ledger.read(check)
    assert ledger.verify().ok
