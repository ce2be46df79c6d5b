"""Migration 0011_verified_email on a database that already holds people and receipts.

Users made before it count as verified (from their creation), so nothing
changes for them; the receipts already issued keep printing the donor they
printed (filled from the gift's person). The database is made at the head,
taken back to the revision before it and brought forward again, so its rows are the real ones.
"""

from __future__ import annotations

from datetime import timedelta

from alembic.script import ScriptDirectory
from sqlalchemy import text

from ledger.campaigns import commands as campaign_commands
from ledger.campaigns.commands import Donor, Recipient
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.migrate import alembic_config, downgrade, upgrade
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.people import service

CONSOLE = Origin(channel="cli", source="ops-host")
# The revision before this migration, wherever the chain puts it.
BEFORE = (
    ScriptDirectory.from_config(alembic_config()).get_revision("0011_verified_email").down_revision
)


def test_users_before_the_migration_count_as_verified_and_receipts_print_as_before(
    db_url: str, clock: FixedClock
) -> None:
    ledger = Ledger.from_url(db_url, clock=clock)

    def work(s):  # type: ignore[no-untyped-def]
        service.create_user(
            s,
            service.NewPerson("anna@example.org", "Anna Rossi", "RSSMRA85T10A562S"),
            roles=["donor"],
            password=None,
            now=clock.now(),
        )
        campaign = campaign_commands.create_campaign(
            s,
            title="Un orto in cortile",
            description_md="Semi.",
            goal=Money.parse("1000.00", "EUR"),
            deadline_at=clock.now() + timedelta(days=30),
            funding_model="keep_what_you_raise",
            organisation=Recipient("Associazione Quartiere Vivo ODV", "97123450153", "ODV"),
            origin=CONSOLE,
            clock=clock,
        ).value
        campaign_commands.publish_campaign(s, campaign.id, origin=CONSOLE, clock=clock)
        campaign_commands.record_offline_gift(
            s,
            campaign.id,
            Money.parse("50.00", "EUR"),
            method="cash",
            donated_on=None,
            reference=None,
            anonymous=True,
            donor=Donor(email="anna@example.org"),
            origin=CONSOLE,
            clock=clock,
            key="gift",
        )

    ledger.run(work)
    ledger.engine.dispose()

    downgrade(db_url, BEFORE)
    upgrade(db_url)

    ledger = Ledger.from_url(db_url, clock=clock)
    with ledger.engine.connect() as connection:
        verified = connection.execute(
            text("SELECT email_verified_at IS NOT NULL, email_verified_at = created_at FROM users")
        ).one()
        printed = connection.execute(
            text("SELECT donor_name, donor_codice_fiscale FROM receipts")
        ).one()
    ledger.engine.dispose()
    assert tuple(verified) == (True, True)
    assert tuple(printed) == ("Anna Rossi", "RSSMRA85T10A562S")
