"""Privacy operations (ledger.privacy): a person's data export, their erasure, and the
retention of the audit log's addresses (the one narrow exception to its append-only rule)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import String, Text, inspect, select, text
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.audit.service import Origin, record
from ledger.campaigns import commands as campaign_commands
from ledger.campaigns.commands import Donor, Recipient
from ledger.campaigns.donations import Limits
from ledger.campaigns.models import Receipt
from ledger.campaigns.service import figures
from ledger.core.clock import FixedClock
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.jobs.registry import JobContext, domain_jobs
from ledger.jobs.runner import run_job
from ledger.people import service as people_service
from ledger.people.errors import InvalidTotpCodeError, NotAllowedError
from ledger.people.models import Registration, User
from ledger.privacy.commands import (
    AlreadyErasedError,
    blank_old_audit_addresses,
    erase_person,
    export_person,
)
from tests.integration.campaign_helpers import live_campaign

NAME = "Beatrice Quaglia"
EMAIL = "beatrice.quaglia@example.org"
CF = "RSSMRA85T10A562S"
TREASURER = Origin(channel="api", user_id=None, source="127.0.0.1")
RECIPIENT = Recipient(
    name="Associazione Quartiere Vivo ODV", tax_code="97123450153", qualification="ODV"
)


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


def make_user(ledger: Ledger, email: str, name: str, roles: list[str], **extra: Any) -> User:
    def work(s: Session) -> User:
        user = people_service.create_user(
            s,
            people_service.NewPerson(email, name, **extra),
            roles=roles,
            password="una password lunga",
            now=ledger.clock.now(),
            email_verified_at=ledger.clock.now(),
        )
        s.expunge(user.person)
        s.expunge(user)
        return user

    return ledger.run(work)


def new_campaign(ledger: Ledger) -> int:
    return live_campaign(ledger, RECIPIENT, origin=TREASURER)


def gift(ledger: Ledger, campaign_id: int, key: str) -> int:
    return ledger.run(
        lambda s: campaign_commands.record_offline_gift(
            s,
            campaign_id,
            eur("50.00"),
            method="bank_transfer",
            donated_on=None,
            reference="CRO 0000123456",
            anonymous=False,
            donor=Donor(email=EMAIL, full_name=NAME, codice_fiscale=CF),
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )
    ).value.id


def a_donor_with_everything(ledger: Ledger) -> tuple[User, int]:
    """A donor with an account, a pending registration row, two receipted gifts by transfer,
    a card gift started while signed in, an API token and audit events from their browser."""
    donor = make_user(ledger, EMAIL, NAME, ["donor"], codice_fiscale=CF)
    campaign_id = new_campaign(ledger)
    gift(ledger, campaign_id, "g1")
    gift(ledger, campaign_id, "g2")
    browser = Origin(channel="web", user_id=donor.id, source="198.51.100.7", user_agent="Firefox")
    ledger.run(
        lambda s: campaign_commands.start_card_donation(
            s,
            campaign_id,
            eur("20.00"),
            person_id=donor.person_id,
            anonymous=False,
            limits=Limits(),
            origin=browser,
            clock=ledger.clock,
            key="card-1",
        )
    )

    def more(s: Session) -> None:
        user = s.get_one(User, donor.id)
        people_service.issue_token(s, user, "portatile", now=ledger.clock.now(), days=30)
        s.add(
            Registration(
                email=EMAIL,
                full_name=NAME,
                codice_fiscale=CF,
                password_hash=None,
                role="donor",
                locale="it",
                created_at=ledger.clock.now(),
                completed_at=ledger.clock.now(),
                user_id=donor.id,
            )
        )
        record(s, browser, "session.login", now=ledger.clock.now(), user_id=donor.id)

    ledger.run(more)
    return donor, campaign_id


ADMIN_SECRET = pyotp.random_base32()


def admin_origin(ledger: Ledger) -> Origin:
    """An admin enrolled in TOTP (ADMIN_SECRET), acting from the pages."""
    admin = make_user(ledger, "amministrazione@example.org", "Ada Admin", ["admin"])

    def enrol(s: Session) -> None:
        user = s.get_one(User, admin.id)
        user.totp_secret_sealed = ledger.require_secret_box().seal(ADMIN_SECRET)
        user.totp_enrolled_at = ledger.clock.now()

    ledger.run(enrol)
    return Origin(channel="web", user_id=admin.id, source="192.0.2.1", user_agent="Chrome")


def erase(ledger: Ledger, person_id: int, origin: Origin, *, code: str | None = None) -> Any:
    """erase_person with the admin's TOTP code of the clock's instant (or `code`)."""
    given = pyotp.TOTP(ADMIN_SECRET).at(ledger.clock.now()) if code is None else code
    return ledger.run(
        lambda s: erase_person(
            s,
            person_id,
            origin=origin,
            clock=ledger.clock,
            code=given,
            box=ledger.require_secret_box(),
        )
    ).value


def text_hits(ledger: Ledger, needles: list[str]) -> set[tuple[str, str]]:
    """(table, column) of every text column of every table holding one of the needles."""
    hits: set[tuple[str, str]] = set()

    def scan(s: Session) -> None:
        inspector = inspect(s.get_bind())
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                kind = column["type"]
                if not isinstance(kind, String | Text) and "JSON" not in str(kind).upper():
                    continue
                name = column["name"]
                for needle in needles:
                    found = s.execute(
                        text(
                            f'SELECT 1 FROM "{table}" WHERE lower(CAST("{name}" AS TEXT))'
                            " LIKE :needle LIMIT 1"
                        ),
                        {"needle": f"%{needle.lower()}%"},
                    ).first()
                    if found:
                        hits.add((table, name))

    ledger.read(scan)
    return hits


def receipts(ledger: Ledger) -> list[tuple[Any, ...]]:
    return ledger.read(
        lambda s: [
            (r.id, r.number, r.amount_minor, r.donor_name, r.donor_codice_fiscale, r.voided_on)
            for r in s.scalars(select(Receipt).order_by(Receipt.id))
        ]
    )


def test_after_erasing_a_donor_only_the_receipts_the_law_keeps_hold_their_identity(ledger):
    donor, campaign_id = a_donor_with_everything(ledger)
    admin = admin_origin(ledger)
    needles = [NAME, EMAIL, CF]
    before = text_hits(ledger, needles)
    assert ("persons", "email") in before and ("receipts", "donor_name") in before
    assert ("audit_events", "source") not in before  # the scan reads every text column
    totals = ledger.read(lambda s: figures(s, campaign_id))
    printed = receipts(ledger)
    head = ledger.verify()

    done = erase(ledger, donor.person_id, admin)

    assert text_hits(ledger, needles) == {
        ("receipts", "donor_name"),
        ("receipts", "donor_codice_fiscale"),
    }
    assert [(k.what, k.count) for k in done.kept] == [("receipts", 2)]
    assert "art. 2220" in done.kept[0].reason
    assert ledger.read(lambda s: figures(s, campaign_id)) == totals
    assert receipts(ledger) == printed
    report = ledger.verify()
    assert report.ok and report.head_hash == head.head_hash
    addresses = ledger.read(
        lambda s: s.execute(
            select(AuditEvent.source, AuditEvent.user_agent).where(
                AuditEvent.actor_user_id == donor.id
            )
        ).all()
    )
    assert addresses and all(row == (None, None) for row in addresses)
    [event] = ledger.read(
        lambda s: [
            (e.actor_user_id, e.subject_id, e.details)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "person.erase"))
        ]
    )
    assert event[0] == admin.user_id and event[1] == str(donor.person_id)
    assert event[2]["kept"] == {"receipts": 2}


def test_an_erased_user_can_no_longer_sign_in_nor_use_a_token(ledger):
    donor, _ = a_donor_with_everything(ledger)
    admin = admin_origin(ledger)
    erase(ledger, donor.person_id, admin)

    def state(s: Session) -> tuple[Any, ...]:
        user = s.get_one(User, donor.id)
        tokens = [t.revoked_at is not None for t in people_service.list_tokens(s, user)]
        return user.active, user.password_hash, user.session_epoch, tokens

    active, password_hash, epoch, revoked = ledger.read(state)
    assert (active, password_hash) == (False, None)
    assert epoch == donor.session_epoch + 1
    assert revoked == [True]
    assert (
        ledger.read(lambda s: people_service.authenticate(s, EMAIL, "una password lunga")) is None
    )


def test_only_an_admin_erases_and_never_twice_nor_themselves(ledger):
    donor, _ = a_donor_with_everything(ledger)
    treasurer = make_user(ledger, "tesoreria@example.org", "Tea Tesoriera", ["treasurer"])
    as_treasurer = Origin(channel="web", user_id=treasurer.id)
    with pytest.raises(NotAllowedError):
        erase(ledger, donor.person_id, as_treasurer)
    admin = admin_origin(ledger)
    admin_person = ledger.read(lambda s: s.get_one(User, admin.user_id).person_id)
    with pytest.raises(NotAllowedError):
        erase(ledger, admin_person, admin)
    with pytest.raises(InvalidTotpCodeError):
        erase(ledger, donor.person_id, admin, code="000000")
    with pytest.raises(InvalidTotpCodeError):
        erase(ledger, donor.person_id, admin, code="")
    erase(ledger, donor.person_id, admin)
    with pytest.raises(InvalidTotpCodeError):  # a code is used once
        erase(ledger, donor.person_id, admin)
    ledger.clock.instant += timedelta(seconds=30)
    with pytest.raises(AlreadyErasedError):
        erase(ledger, donor.person_id, admin)
    erasures = ledger.read(
        lambda s: s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'person.erase'"))
    )
    assert erasures == 1


def test_a_borrowers_name_and_tax_code_stay_with_their_loan_contract(ledger):
    from ledger.funds import loan_commands
    from tests.integration.test_fund_commands import FIRST_DUE, fund_with_product

    borrower = make_user(ledger, EMAIL, NAME, ["proponent"], codice_fiscale=CF)
    fund_id, product_id = fund_with_product(ledger)
    ledger.run(
        lambda s: loan_commands.open_loan(
            s,
            fund_id,
            product_id,
            borrower_person_id=borrower.person_id,
            principal_minor=200_000,
            term_months=6,
            first_due_on=FIRST_DUE,
            origin=TREASURER,
            clock=ledger.clock,
            key="loan-1",
        )
    )
    admin = admin_origin(ledger)
    done = erase(ledger, borrower.person_id, admin)

    assert [(k.what, k.count) for k in done.kept] == [("loan_contracts", 1)]
    assert "full_name" not in done.replaced and "email" in done.replaced
    assert text_hits(ledger, [NAME, EMAIL, CF]) == {
        ("persons", "full_name"),
        ("persons", "codice_fiscale"),
    }


def test_a_person_without_receipts_or_loans_keeps_nothing(ledger):
    person = make_user(ledger, EMAIL, NAME, ["proponent"], codice_fiscale=CF)
    admin = admin_origin(ledger)
    done = erase(ledger, person.person_id, admin)
    assert done.kept == []
    assert set(done.replaced) >= {"full_name", "email", "codice_fiscale", "address"}
    assert text_hits(ledger, [NAME, EMAIL, CF]) == set()


def test_a_volunteers_register_rows_and_hours_are_exported_and_kept_by_id_on_erasure(ledger):
    from datetime import date

    from ledger.projects import commands as project_commands
    from ledger.projects.models import FigurativeItem, VolunteerEnrolment
    from tests.integration.projects_world import build_world, eur

    world = build_world(ledger, ledger.clock)
    volunteer = make_user(ledger, EMAIL, NAME, ["donor"], codice_fiscale=CF)
    person = volunteer.person_id
    origin = world.origin()
    clock = ledger.clock
    ledger.run(
        lambda s: project_commands.set_volunteer_rate(
            s,
            role="educatore",
            hourly_minor=eur("18.50"),
            valid_from=date(2026, 1, 1),
            origin=origin,
            clock=clock,
        )
    )
    for enrolled, ended in ((date(2026, 1, 10), date(2026, 2, 28)), (date(2026, 4, 1), None)):
        ledger.run(
            lambda s, e=enrolled: project_commands.enrol_volunteer(
                s,
                person_id=person,
                enrolled_on=e,
                activity="Doposcuola",
                origin=origin,
                clock=clock,
            )
        )
        if ended is not None:
            ledger.run(
                lambda s, e=ended: project_commands.end_volunteer(
                    s, person_id=person, ended_on=e, origin=origin, clock=clock
                )
            )
    ledger.run(
        lambda s: project_commands.record_volunteer_hours(
            s,
            world.project,
            person_id=person,
            activity="Doposcuola",
            role="educatore",
            minutes=90,
            done_on=date(2026, 4, 2),
            origin=origin,
            clock=clock,
            key="ore",
        )
    )
    own = Origin(channel="web", user_id=volunteer.id)
    data = ledger.run(lambda s: export_person(s, person, origin=own, clock=clock)).value
    assert [(e["enrolled_on"], e["ended_on"]) for e in data["volunteer_enrolments"]] == [
        ("2026-01-10", "2026-02-28"),
        ("2026-04-01", None),
    ]
    assert [(h["minutes"], h["done_on"]) for h in data["volunteer_hours"]] == [(90, "2026-04-02")]

    done = erase(ledger, person, admin_origin(ledger))
    kept = {k.what: k for k in done.kept}
    assert kept["volunteer_register"].count == 2
    assert "art. 17" in kept["volunteer_register"].reason
    rows = ledger.read(
        lambda s: [
            (e.person_id, e.enrolled_on, e.ended_on)
            for e in s.scalars(select(VolunteerEnrolment).order_by(VolunteerEnrolment.id))
        ]
    )
    assert rows == [
        (person, date(2026, 1, 10), date(2026, 2, 28)),
        (person, date(2026, 4, 1), None),
    ]
    assert ledger.read(lambda s: len(list(s.scalars(select(FigurativeItem.id))))) == 1
    assert text_hits(ledger, [NAME, EMAIL, CF]) == set()


def test_a_persons_export_holds_everything_about_them_and_nothing_secret(ledger):
    donor, _ = a_donor_with_everything(ledger)
    own = Origin(channel="web", user_id=donor.id)
    data = ledger.run(
        lambda s: export_person(s, donor.person_id, origin=own, clock=ledger.clock)
    ).value

    assert data["person"]["full_name"] == NAME and data["person"]["codice_fiscale"] == CF
    assert data["user"]["roles"] == ["donor"]
    assert [t["name"] for t in data["api_tokens"]] == ["portatile"]
    assert len(data["donations"]) == 3
    printed = [r for d in data["donations"] for r in d["receipts"]]
    assert len(printed) == 2 and all(r["donor_name"] == NAME for r in printed)
    assert data["registrations"][0]["email"] == EMAIL
    assert {"session.login", "donation.card_start"} & {e["action"] for e in data["audit_events"]}
    assert any(e["source"] == "198.51.100.7" for e in data["audit_events"])
    flat = str(data)
    assert "argon2" not in flat and "token_hash" not in flat and "password_hash" not in flat
    audited = ledger.read(
        lambda s: s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'person.export'"))
    )
    assert audited == 1


def test_a_persons_export_does_not_disclose_the_address_of_staff_who_acted_on_them(ledger):
    """The attack of the security review (2026-12-07): after an admin exported a
    person's data, the person's own export showed the admin's IP address and browser
    (the `person.export` event is about them). Their own acts keep theirs."""
    donor, _ = a_donor_with_everything(ledger)
    admin = admin_origin(ledger)
    ledger.run(lambda s: export_person(s, donor.person_id, origin=admin, clock=ledger.clock))
    own = Origin(channel="web", user_id=donor.id)
    data = ledger.run(
        lambda s: export_person(s, donor.person_id, origin=own, clock=ledger.clock)
    ).value
    by_admin = [e for e in data["audit_events"] if e["action"] == "person.export"]
    assert by_admin, data["audit_events"]
    assert "192.0.2.1" not in str(data) and "Chrome" not in str(data)
    assert any(e.get("source") == "198.51.100.7" for e in data["audit_events"])


def test_an_unconfirmed_account_exports_without_what_is_linked_only_by_address(ledger):
    donor, _ = a_donor_with_everything(ledger)
    ledger.run(lambda s: setattr(s.get_one(User, donor.id), "email_verified_at", None))
    own = Origin(channel="web", user_id=donor.id)
    data = ledger.run(
        lambda s: export_person(s, donor.person_id, origin=own, clock=ledger.clock)
    ).value
    assert data["linked_records_included"] is False
    assert data["donations"] == [] and data["loans"] == []


def test_nobody_else_exports_a_persons_data(ledger):
    donor, _ = a_donor_with_everything(ledger)
    other = make_user(ledger, "altro@example.org", "Altro Utente", ["treasurer"])
    with pytest.raises(NotAllowedError):
        ledger.run(
            lambda s: export_person(
                s, donor.person_id, origin=Origin("web", user_id=other.id), clock=ledger.clock
            )
        )
    admin = admin_origin(ledger)
    data = ledger.run(
        lambda s: export_person(s, donor.person_id, origin=admin, clock=ledger.clock)
    ).value
    assert data["person"]["email"] == EMAIL


# ------------------------------------------------------------------ retention
def events(ledger: Ledger) -> list[tuple[str, str | None, str | None]]:
    return ledger.read(
        lambda s: [
            (e.action, e.source, e.user_agent)
            for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    )


def test_the_retention_job_blanks_addresses_and_agents_older_than_the_setting(
    ledger, clock: FixedClock
):
    web = Origin(channel="web", source="198.51.100.7", user_agent="Firefox")
    ledger.run(lambda s: record(s, web, "old.event", now=clock.now()))
    clock.instant += timedelta(days=30)
    ledger.run(lambda s: record(s, web, "new.event", now=clock.now()))
    clock.instant += timedelta(days=1)

    [job] = [j for j in domain_jobs({}) if j.name == "audit_retention"]
    ctx = JobContext(
        ledger=ledger, origin=Origin.command_line(), settings={"AUDIT_IP_RETENTION_DAYS": 30}
    )
    result = run_job(ctx, job)

    assert result.succeeded and result.counts == {"blanked": 1, "days": 30}
    assert events(ledger)[:2] == [
        ("old.event", None, None),
        ("new.event", "198.51.100.7", "Firefox"),
    ]
    assert events(ledger)[2][0] == "audit.blank_addresses"


def test_blanking_with_nothing_old_enough_writes_nothing(ledger, clock: FixedClock):
    web = Origin(channel="web", source="198.51.100.7", user_agent="Firefox")
    ledger.run(lambda s: record(s, web, "recent.event", now=clock.now()))
    outcome = ledger.run(
        lambda s: blank_old_audit_addresses(s, days=90, origin=Origin.command_line(), clock=clock)
    )
    assert outcome.value == 0 and not outcome.created
    assert events(ledger) == [("recent.event", "198.51.100.7", "Firefox")]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'x'",
        "UPDATE audit_events SET source = '203.0.113.1'",
        "UPDATE audit_events SET user_agent = 'forged'",
        "UPDATE audit_events SET source = NULL, subject_id = '9'",
        "UPDATE audit_events SET source = NULL, details = '{}'",
        "UPDATE audit_events SET channel = 'api'",
        "DELETE FROM audit_events",
    ],
)
def test_the_audit_log_allows_blanking_its_addresses_and_nothing_else(ledger, statement):
    web = Origin(channel="web", source="198.51.100.7", user_agent="Firefox")
    ledger.run(
        lambda s: record(
            s,
            web,
            "some.event",
            now=ledger.clock.now(),
            subject_type="x",
            subject_id=1,
            details={"n": 1},
        )
    )
    with pytest.raises(Exception, match=r"append-only|refused"):
        ledger.run(lambda s: s.execute(text(statement)))
    assert events(ledger) == [("some.event", "198.51.100.7", "Firefox")]
    ledger.run(lambda s: s.execute(text("UPDATE audit_events SET user_agent = NULL")))
    ledger.run(lambda s: s.execute(text("UPDATE audit_events SET source = NULL")))
    assert events(ledger) == [("some.event", None, None)]


# ------------------------------------------------------------------ CLI
def test_the_cli_exports_and_erases_a_person_by_e_mail(ledger, run, tmp_path):
    import json

    a_donor_with_everything(ledger)
    output = tmp_path / "export.json"
    exported = run("people", "export", EMAIL, "--output", str(output))
    assert exported.exit_code == 0, exported.output
    data = json.loads(output.read_text(encoding="utf-8"))
    assert data["person"]["email"] == EMAIL and len(data["donations"]) == 3
    # Personal data: the file is the operator's only, whatever the umask (it was 0644).
    assert output.stat().st_mode & 0o777 == 0o600

    refused = run("people", "erase", EMAIL)
    assert refused.exit_code == 2 and "--yes" in refused.output
    erased = run("people", "erase", EMAIL, "--yes")
    assert erased.exit_code == 0, erased.output
    assert "kept: 2 receipts: Ricevute di donazione emesse" in erased.output
    again = run("people", "erase", EMAIL, "--yes")
    assert again.exit_code == 1 and "person_not_found" in again.output
