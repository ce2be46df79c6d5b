"""Demo data: a community programme's first months of 2026, loaded idempotently.

A microcredit fund, a crowdfunding campaign (number 1) with a campaign escrow,
a foundation (number 1) whose matching pool reserves and releases match money,
donations by card (with Stripe fees), bank transfer and cash, a Stripe payout,
a microloan and its repayments, and a reversal of a donation entered twice.

Every write carries a fixed idempotency key, so loading the demo again changes
nothing; the whole demo is one transaction, so it loads entirely or not at all.
Demo users, who share a published password, are created only on request.
Entries are dated in 2026, in the past of the programme's "today", so
statements and the trial balance show real data. Narrations are Italian and
name parties only by id: no personal data enters the journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.commands import Origin
from ledger.core.accounts import create_account, list_accounts
from ledger.core.clock import Clock
from ledger.core.errors import InvalidAccountError, LedgerError
from ledger.core.holds import HoldResult, HoldSpec, create_hold, resolve_hold
from ledger.core.journal import EntrySpec, PostingSpec, post_entry, reverse_entry
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.people.models import Person, User
from ledger.people.service import NewPerson, create_user, find_user_by_email

DEMO_YEAR = 2026
KEY_PREFIX = "demo-2026-"

BANK = "assets:bank:intesa"
STRIPE = "assets:stripe:clearing"
CASH = "assets:cash:sportello"
LOANS = "assets:microcredit:loans"
FUND = "equity:funds:microcredit"
# The programme's first fundraising project, booked by hand before campaigns had
# their own pages; campaign 1 is the one `_load_campaign` creates through the domain.
ESCROW = "liabilities:projects:1:escrow"
POOL = "liabilities:grants:1:pool"
DONATIONS = "income:donations"
FEES = "expenses:fees:stripe"

# code, type, no_overdraft, name
ACCOUNTS: tuple[tuple[str, str, bool, str], ...] = (
    (BANK, "asset", True, "Conto corrente bancario (Intesa Sanpaolo)"),
    (STRIPE, "asset", False, "Stripe: incassi con carta in transito"),
    (CASH, "asset", True, "Cassa contanti dello sportello di comunità"),
    (LOANS, "asset", False, "Microcrediti erogati da rimborsare"),
    (FUND, "equity", False, "Fondo rotativo di microcredito"),
    (ESCROW, "liability", False, "Progetto 1: fondi raccolti in attesa di erogazione"),
    (POOL, "liability", True, "Fondazione 1: fondo di cofinanziamento"),
    (DONATIONS, "income", False, "Donazioni libere"),
    (FEES, "expense", False, "Commissioni sui pagamenti con carta (Stripe)"),
)


# One user per role, for trying the pages on the demo database only. The password
# is public (it is in the README), so they are opt-in (`ledger demo --with-users`)
# and refused in a database that holds any other user. Treasurer and admin enrol
# their own TOTP at first use of a money page.
DEMO_PASSWORD = "demo-registro-2026"  # noqa: S105 - a documented demo credential
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("tesoreria@demo.registro.example", "Tesoreria Demo", "treasurer"),
    ("admin@demo.registro.example", "Amministrazione Demo", "admin"),
    ("donatrice@demo.registro.example", "Donatrice Demo", "donor"),
    ("proponente@demo.registro.example", "Proponente Demo", "proponent"),
    ("revisore@demo.registro.example", "Revisore Demo", "reviewer"),
    ("fondazione@demo.registro.example", "Fondazione Demo", "foundation_officer"),
    ("progetti@demo.registro.example", "Staff di progetto Demo", "project_staff"),
    ("partner@demo.registro.example", "Partner Demo", "partner"),
)
DEMO_EMAILS = frozenset(email for email, _name, _role in DEMO_USERS)


class RealUsersPresentError(LedgerError):
    """Demo users (published password) refused: the database holds other users."""

    code = "real_users_present"
    http_status = 409


@dataclass(frozen=True, slots=True)
class DemoResult:
    """How much of the demo this run wrote (all zero on a second run)."""

    accounts_created: int
    entries_created: int
    holds_created: int
    users_created: int = 0
    campaigns_created: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.accounts_created
            or self.entries_created
            or self.holds_created
            or self.users_created
            or self.campaigns_created
        )


def _eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def _on(month: int, day: int) -> date:
    return date(DEMO_YEAR, month, day)


def _entry(
    key: str, kind: str, when: date, narration: str, legs: list[tuple[str, str]], **metadata: Any
) -> EntrySpec:
    return EntrySpec(
        idempotency_key=KEY_PREFIX + key,
        kind=kind,
        effective_on=when,
        narration=narration,
        postings=[PostingSpec(code, _eur(amount)) for code, amount in legs],
        metadata=metadata,
    )


def _card_donation(
    key: str, when: date, gross: str, fee: str, credit: str, narration: str, **metadata: Any
) -> EntrySpec:
    net = _eur(gross) - _eur(fee)
    return _entry(
        key,
        "donation",
        when,
        narration,
        [(STRIPE, net.amount_string()), (FEES, fee), (credit, "-" + gross)],
        channel="card",
        **metadata,
    )


def _entries_before_match() -> list[EntrySpec]:
    return [
        _entry(
            "fund-capital",
            "fund_contribution",
            _on(3, 2),
            "Dotazione iniziale del fondo rotativo di microcredito",
            [(BANK, "5000.00"), (FUND, "-5000.00")],
            fund_id=1,
        ),
        _entry(
            "grant-foundation-1",
            "grant_received",
            _on(3, 16),
            "Contributo della fondazione 1 per il cofinanziamento della progetto 1",
            [(BANK, "10000.00"), (POOL, "-10000.00")],
            foundation_id=1,
            project_id=1,
        ),
        _card_donation(
            "donation-card-1",
            _on(4, 3),
            "50.00",
            "1.00",
            ESCROW,
            "Donazione con carta alla progetto 1",
            project_id=1,
            donor_party_id=101,
        ),
        _card_donation(
            "donation-card-2",
            _on(4, 9),
            "25.00",
            "0.63",
            ESCROW,
            "Donazione con carta alla progetto 1",
            project_id=1,
            donor_party_id=102,
        ),
        _entry(
            "donation-transfer-1",
            "donation",
            _on(4, 14),
            "Donazione con bonifico alla progetto 1",
            [(BANK, "200.00"), (ESCROW, "-200.00")],
            channel="bank_transfer",
            project_id=1,
            donor_party_id=103,
        ),
        _entry(
            "donation-cash-1",
            "donation",
            _on(4, 18),
            "Donazione in contanti allo sportello di comunità",
            [(CASH, "30.00"), (DONATIONS, "-30.00")],
            channel="cash",
            donor_party_id=104,
        ),
        _entry(
            "stripe-payout-1",
            "processor_payout",
            _on(4, 21),
            "Accredito Stripe sul conto corrente (donazioni con carta di aprile)",
            [(BANK, "73.37"), (STRIPE, "-73.37")],
            payout_ref="po_demo_0001",
        ),
        _entry(
            "cash-deposit-1",
            "cash_deposit",
            _on(5, 4),
            "Versamento in banca dei contanti dello sportello",
            [(BANK, "30.00"), (CASH, "-30.00")],
        ),
    ]


def _entries_after_match() -> list[EntrySpec]:
    repayments = [
        _entry(
            f"repayment-1-{n}",
            "repayment",
            _on(6 + n, 1),
            f"Rata n. {n} del microcredito n. 1",
            [(BANK, "125.00"), (LOANS, "-125.00")],
            loan_id=1,
            instalment=n,
        )
        for n in range(1, 5)
    ]
    return [
        _entry(
            "loan-1",
            "loan_disbursement",
            _on(6, 3),
            "Erogazione del microcredito n. 1 a tasso zero",
            [(LOANS, "1500.00"), (BANK, "-1500.00")],
            loan_id=1,
            borrower_party_id=201,
        ),
        _entry(
            "donation-cash-2",
            "donation",
            _on(6, 20),
            "Donazione in contanti allo sportello di comunità",
            [(CASH, "40.00"), (DONATIONS, "-40.00")],
            channel="cash",
            donor_party_id=105,
        ),
        *repayments,
        _card_donation(
            "donation-card-3",
            _on(9, 12),
            "100.00",
            "1.75",
            DONATIONS,
            "Donazione con carta (erogazione liberale)",
            donor_party_id=106,
        ),
        _card_donation(
            "donation-card-4",
            _on(9, 26),
            "60.00",
            "1.15",
            ESCROW,
            "Donazione con carta alla progetto 1",
            project_id=1,
            donor_party_id=107,
        ),
        _entry(
            "stripe-payout-2",
            "processor_payout",
            _on(10, 5),
            "Accredito Stripe sul conto corrente (donazioni con carta di settembre)",
            [(BANK, "157.10"), (STRIPE, "-157.10")],
            payout_ref="po_demo_0002",
        ),
        _entry(
            "campaign-1-disbursement-1",
            "campaign_disbursement",
            _on(10, 20),
            "Progetto 1: pagamento delle attrezzature per il laboratorio di quartiere",
            [(ESCROW, "400.00"), (BANK, "-400.00")],
            project_id=1,
            supplier_party_id=301,
        ),
    ]


def _ensure_accounts(session: Session, clock: Clock) -> int:
    existing = {a.code: a for a in list_accounts(session)}
    created = 0
    for code, account_type, no_overdraft, name in ACCOUNTS:
        found = existing.get(code)
        if found is None:
            create_account(
                session,
                code,
                account_type,
                clock=clock,
                currency="EUR",
                no_overdraft=no_overdraft,
                name=name,
            )
            created += 1
        elif (found.type, found.currency) != (account_type, "EUR"):
            raise InvalidAccountError(
                f"account {code} exists as {found.type} in {found.currency}; the demo needs "
                f"{account_type} in EUR",
                code=code,
            )
    return created


def _demo_call_emails() -> frozenset[str]:
    from ledger.funds.demo_calls import DEMO_CALL_EMAILS
    from ledger.projects.demo import DEMO_PROJECT_EMAILS

    return DEMO_CALL_EMAILS | DEMO_PROJECT_EMAILS


def _refuse_real_users(session: Session) -> None:
    """Refuse to add users with a public password beside people who really sign in."""
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .join(Person, Person.id == User.person_id)
        .where(Person.email.not_in(sorted(DEMO_EMAILS | _demo_call_emails())))
    )
    if others:
        raise RealUsersPresentError(
            f"the database holds {others} user{'s' if others != 1 else ''} besides the demo "
            "users; demo users share a published password, so they go only into a demo "
            "database (run `ledger demo` without --with-users to load the book alone)",
            users=int(others),
        )


def _ensure_users(session: Session, clock: Clock) -> int:
    """Create the demo users that are missing; return how many were created."""
    _refuse_real_users(session)
    created = 0
    for email, name, role in DEMO_USERS:
        if find_user_by_email(session, email) is None:
            create_user(
                session,
                NewPerson(email=email, full_name=name),
                roles=[role],
                password=DEMO_PASSWORD,
                now=clock.now(),
                # Made-up people of made-up addresses: counted as confirmed.
                email_verified_at=clock.now(),
            )
            created += 1
    return created


def load_demo_into(
    session: Session, clock: Clock, *, with_users: bool = False, origin: Origin | None = None
) -> DemoResult:
    """Load (or confirm) the demo book in the caller's transaction.

    Every write is idempotent by its fixed key, so a second run changes nothing.
    With `with_users`, also create one demo user per role (see DEMO_USERS), and
    refuse with RealUsersPresentError, before writing anything, when the
    database holds any other user. `origin` is who loads it (the console by
    default): the bank month acts through the reconcile use cases, audited.
    """
    users_created = _ensure_users(session, clock) if with_users else 0
    accounts_created = _ensure_accounts(session, clock)
    entries_created = holds_created = 0

    def post(spec: EntrySpec) -> str:
        nonlocal entries_created
        result = post_entry(session, spec, clock=clock)
        entries_created += result.created
        return result.entry.id

    def reserve_match(key: str, amount: str, narration: str) -> HoldResult:
        """Reserve foundation 1's 1:1 match for campaign 1 on the pool."""
        return create_hold(
            session,
            HoldSpec(
                idempotency_key=KEY_PREFIX + key,
                kind="match_release",
                debit_account=POOL,
                credit_account=ESCROW,
                amount=_eur(amount),
                narration=narration,
                metadata={"project_id": 1, "foundation_id": 1, "rule": "1:1"},
            ),
            clock=clock,
        )

    for spec in _entries_before_match():
        post(spec)

    # The foundation matches 1:1 up to EUR 250: the match is reserved on the pool,
    # then released in part once the cap is known.
    match = reserve_match(
        "match-hold-1",
        "275.00",
        "Riserva del cofinanziamento 1:1 della fondazione 1 per la progetto 1",
    )
    holds_created += match.created
    released = resolve_hold(
        session,
        match.hold.id,
        outcome="posted",
        idempotency_key=KEY_PREFIX + "match-release-1",
        clock=clock,
        amount=_eur("250.00"),
        effective_on=_on(5, 15),
        narration="Cofinanziamento della fondazione 1 rilasciato alla progetto 1 "
        "(tetto di 250,00 EUR)",
    )
    entries_created += released.created

    for spec in _entries_after_match():
        post(spec)

    # The same cash donation typed in twice; the copy is reversed, never deleted.
    duplicate = post(
        _entry(
            "donation-cash-2-duplicate",
            "donation",
            _on(6, 20),
            "Donazione in contanti allo sportello di comunità",
            [(CASH, "40.00"), (DONATIONS, "-40.00")],
            channel="cash",
            donor_party_id=105,
        )
    )
    reversal = reverse_entry(
        session,
        idempotency_key=KEY_PREFIX + "reversal-duplicate-cash",
        clock=clock,
        entry_id=duplicate,
        effective_on=_on(6, 22),
        narration="Storno: donazione in contanti registrata due volte",
    )
    entries_created += reversal.created

    # A second match stays reserved, so the pool shows pending and available money.
    pending = reserve_match(
        "match-hold-2",
        "60.00",
        "Riserva del cofinanziamento 1:1 per la donazione con carta del 26 settembre",
    )
    holds_created += pending.created
    campaigns_created = _load_campaign(session, clock)
    from ledger.grants.demo import seed_grants_demo

    campaigns_created += 2 * seed_grants_demo(session, clock)
    from ledger.funds.demo_calls import load_demo_calls

    load_demo_calls(session, clock)  # a call for ideas with scored ideas and a tranche paid
    from ledger.funds.demo_loans import load_demo_loans

    load_demo_loans(session, clock)  # a revolving fund lending, one loan late (PAR30 > 0)
    from ledger.reconcile.demo import load_demo_bank_month

    # A month of the bank statement, imported and every line explained.
    load_demo_bank_month(session, clock, origin=origin or Origin.command_line())
    from ledger.projects.demo import load_demo_projects

    # "Fare #BeneComune" with its 2026 and the FareLegami plan with 100 partners.
    load_demo_projects(session, clock)
    from ledger.projects.demo import link_demo_members

    # The project staff user acts for the lead of "Fare #BeneComune", the partner's
    # user for the municipality (when the demo users are there).
    link_demo_members(
        session,
        clock,
        staff_email="progetti@demo.registro.example",
        partner_email="partner@demo.registro.example",
    )
    return DemoResult(
        accounts_created, entries_created, holds_created, users_created, campaigns_created
    )


DEMO_CAMPAIGN_TITLE = "Un orto in cortile"
DEMO_CAMPAIGN_TEXT = """Nel cortile della casa di quartiere nasce un **orto condiviso**:
cassoni rialzati accessibili anche in carrozzina, semi e attrezzi, e un corso
di dieci incontri per i bambini delle scuole vicine.

- 12 cassoni rialzati in legno di larice
- attrezzi, compost e un impianto a goccia
- il corso con un'educatrice ambientale
"""


def _load_campaign(session: Session, clock: Clock) -> int:
    """A live campaign with card gifts (Stripe fees), cash, a bank transfer and a refund,
    all through the campaigns domain, as the pages and webhooks would write them."""
    from datetime import timedelta

    from ledger.campaigns.donations import (
        Limits,
        record_offline_donation,
        settle,
        start_online_donation,
    )
    from ledger.campaigns.models import Campaign
    from ledger.campaigns.refunds import confirm_refund, request_refund
    from ledger.campaigns.service import (
        NewCampaign,
        create_campaign,
        create_organisation,
        publish_campaign,
    )

    if session.scalar(select(Campaign.id).where(Campaign.title == DEMO_CAMPAIGN_TITLE)):
        return 0
    organisation = create_organisation(
        session,
        name="Associazione Quartiere Vivo ODV",
        tax_code="97123450153",
        qualification="ODV",
        runts_number="RUNTS 0042/2024",
        now=clock.now(),
    )
    campaign = create_campaign(
        session,
        NewCampaign(
            organisation_id=organisation.id,
            title=DEMO_CAMPAIGN_TITLE,
            description_md=DEMO_CAMPAIGN_TEXT,
            goal_minor=_eur("3000.00").minor,
            currency="EUR",
            deadline_at=clock.now() + timedelta(days=40),
            funding_model="keep_what_you_raise",
        ),
        clock=clock,
    )
    publish_campaign(session, campaign.id, clock=clock)
    donor = session.scalar(
        select(Person.id).where(Person.email == "donatrice@demo.registro.example")
    )
    for n, (gross, fee, anonymous) in enumerate(
        [("50.00", "0.98", False), ("120.00", "1.93", True), ("25.00", "0.60", False)], start=1
    ):
        gift, _ = start_online_donation(
            session,
            campaign.id,
            _eur(gross),
            person_id=donor if n == 1 else None,
            anonymous=anonymous,
            request_key=f"demo:card:{n}",
            limits=Limits(),
            clock=clock,
        )
        gift.stripe_session_id = f"cs_demo_{n}"
        gift.stripe_payment_intent_id = f"pi_demo_{n}"
        gift.stripe_charge_id = f"ch_demo_{n}"
        settle(
            session,
            gift,
            gross_minor=_eur(gross).minor,
            fee_minor=_eur(fee).minor,
            clock=clock,
            actor="demo",
        )
    record_offline_donation(
        session,
        campaign.id,
        _eur("150.00"),
        method="bank_transfer",
        person_id=None,
        anonymous=False,
        reference="ORTO-2026-0007",
        request_key="demo:bank:1",
        donated_on=None,
        actor="demo",
        clock=clock,
    )
    cash, _ = record_offline_donation(
        session,
        campaign.id,
        _eur("35.00"),
        method="cash",
        person_id=None,
        anonymous=True,
        reference=None,
        request_key="demo:cash:1",
        donated_on=None,
        actor="demo",
        clock=clock,
    )
    # The cash gift was meant for another project: handed back at the counter.
    refund = request_refund(session, cash.id, _eur("35.00"), clock=clock)
    confirm_refund(session, refund.id, clock=clock, actor="demo")
    return 1


def load_demo(ledger: Ledger, *, with_users: bool = False) -> DemoResult:
    """Load (or confirm) the demo book in one transaction: all of it or nothing.

    Demo users are opt-in (`with_users`): their password is published, so they
    never go into a database that holds anyone else (RealUsersPresentError).
    """
    return ledger.run(lambda s: load_demo_into(s, ledger.clock, with_users=with_users))
