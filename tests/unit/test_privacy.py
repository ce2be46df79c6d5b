import pytest

from ledger.core.errors import InvalidEntryError, PersonalDataError
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money


def legs():
    return [
        PostingSpec("assets:bank", Money(100, "EUR")),
        PostingSpec("income:donations", Money(-100, "EUR")),
    ]


@pytest.mark.parametrize(
    "narration",
    [
        "Donazione di mario.rossi@example.it",
        "Rimborso a RSSMRA85T10A562S",
        "Bonifico da IT60X0542811101000000123456",
        "Bonifico da IT60 X054 2811 1010 0000 0123 456",
    ],
)
def test_a_narration_carrying_personal_data_is_refused(narration):
    with pytest.raises(PersonalDataError) as caught:
        EntrySpec("k", "donation", legs(), narration=narration)
    assert caught.value.code == "personal_data_in_journal"


@pytest.mark.parametrize(
    "metadata",
    [
        {"email": "x"},
        {"Codice_Fiscale": "x"},
        {"iban": "x"},
        {"nome": "Mario"},
        {"donor_note": "scrivere a anna@example.org"},
    ],
)
def test_metadata_naming_or_carrying_personal_data_is_refused(metadata):
    with pytest.raises(PersonalDataError):
        EntrySpec("k", "donation", legs(), metadata=metadata)


@pytest.mark.parametrize(
    "narration",
    [
        "Donazione con carta per la campagna 42 (donatore 1187)",
        "Storno della registrazione n. 4",
        "Bonifico rif. RF18539007547034",
        "Stripe ch_3NkQw2Lz commissione",
    ],
)
def test_narrations_that_refer_to_parties_by_id_are_accepted(narration):
    spec = EntrySpec(
        "k",
        "donation",
        legs(),
        narration=narration,
        metadata={"donor_id": 1187, "campaign_id": "42"},
    )
    assert spec.narration == narration


@pytest.mark.parametrize(
    "actor", ["mario.rossi@example.it", "Mario Rossi", "x" * 256, "", "RSSMRA85T10A562S"]
)
def test_an_actor_that_is_not_an_id_is_refused(actor):
    with pytest.raises(InvalidEntryError):
        EntrySpec("k", "donation", legs(), actor=actor)


@pytest.mark.parametrize("actor", ["user:42", "cli", "stripe-webhook", "system.expiry"])
def test_an_actor_that_is_an_id_is_kept(actor):
    assert EntrySpec("k", "donation", legs(), actor=actor).actor == actor
