from datetime import date

from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def test_a_donation_posts_and_verifies_on_every_backend(ledger):
    ledger.create_account("assets:bank:intesa", "asset", no_overdraft=True)
    ledger.create_account("income:donations", "income")
    result = ledger.post(
        EntrySpec(
            "d1",
            "donation",
            [
                PostingSpec("assets:bank:intesa", eur("25.00")),
                PostingSpec("income:donations", eur("-25.00")),
            ],
            effective_on=date(2026, 6, 1),
        )
    )
    assert result.created and result.entry.sequence == 1
    assert ledger.balance("income:donations").posted == 2500
    assert ledger.verify().ok
