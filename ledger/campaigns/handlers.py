"""The campaigns' subscriptions to other domains' events (wired by `ledger.wiring.wire`).

A person's name or codice fiscale corrected (`IdentityCorrected`, published by
`ledger.people.commands.correct_identity`): every valid receipt of their gifts
that printed the old ones is voided and issued again with a new number, in the
correction's transaction. A receipt that printed someone else (a donor the
treasurer typed differently for that gift) is left as it is.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger import events
from ledger.campaigns import receipts
from ledger.campaigns.getters import get_donation
from ledger.core.clock import Clock


def _identity_corrected(session: Session, event: events.IdentityCorrected, clock: Clock) -> None:
    old = (event.old_name, event.old_codice_fiscale)
    for receipt in receipts.valid_receipts_of_person(session, event.person_id):
        if (receipt.donor_name, receipt.donor_codice_fiscale) != old:
            continue
        donation = get_donation(session, receipt.donation_id, lock=True)
        if (donation.donor_name, donation.donor_codice_fiscale) == old:
            # The gift named the person as they were: it names the person from now on.
            donation.donor_name = donation.donor_codice_fiscale = None
        receipts.reissue_after_change(session, donation, clock=clock, reason=receipts.CORRECTED)


def subscribe_all() -> None:
    events.subscribe(events.IdentityCorrected, _identity_corrected)
