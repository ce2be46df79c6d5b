"""The `ledger` commands of the grants and the demo's matching, on both backends."""

from __future__ import annotations

import json

from sqlalchemy import select

from ledger.grants import accounts
from ledger.grants.models import Commitment
from tests.integration.conftest import Run


def test_the_demo_seeds_a_foundation_with_a_crossed_threshold_and_a_ratio_match(run: Run, book):  # type: ignore[no-untyped-def]
    assert run("demo", "--with-users").exit_code == 0
    listed = json.loads(run("grants", "list", "--format", "json").output)
    kinds = {row["kind"]: row for row in listed}
    assert set(kinds) == {"threshold", "ratio"}
    threshold, ratio = kinds["threshold"], kinds["ratio"]
    # 8,150 raised of a 20,000 budget crossed 40 %: 12,000 released, 6,000 paid so far.
    assert (threshold["released"], threshold["disbursed"]) == ("6000.00", "6000.00")
    assert book.balance(accounts.disbursed(threshold["id"])).posted == 600000
    # 2:1 on 30 + 50 + 150, at most 200 of match per donor: 60 + 100 + 100 reserved.
    assert ratio["reserved"] == "260.00"
    assert book.balance(accounts.pool(ratio["id"])).pending == 26000
    again = run("demo")
    assert "nothing changed" in again.output
    assert json.loads(run("grants", "list", "--format", "json").output) == listed
    assert book.verify().ok


def test_foundations_and_disbursements_from_the_command_line(run: Run, book):  # type: ignore[no-untyped-def]
    assert run("demo", "--with-users").exit_code == 0
    made = run("foundations", "create", "Fondazione Nuova")
    assert made.exit_code == 0 and made.output.startswith("created foundation ")
    foundation_id = made.output.split()[-1]
    added = run("foundations", "add-officer", foundation_id, "fondazione@demo.registro.example")
    assert added.exit_code == 0, added.output
    refused = run("foundations", "add-officer", foundation_id, "tesoreria@demo.registro.example")
    assert refused.exit_code != 0 and "foundation_officer" in refused.output
    threshold = next(
        r
        for r in json.loads(run("grants", "list", "--format", "json").output)
        if r["kind"] == "threshold"
    )
    campaign_id = book.read(
        lambda s: s.scalar(select(Commitment.campaign_id).where(Commitment.id == threshold["id"]))
    )
    paid = run(
        "grants",
        "disburse",
        str(threshold["id"]),
        str(campaign_id),
        "6000.00",
        "--reference",
        "bonifico-2",
    )
    assert paid.exit_code == 0, paid.output
    assert (
        run(
            "grants",
            "disburse",
            str(threshold["id"]),
            str(campaign_id),
            "0.01",
            "--reference",
            "bonifico-3",
        ).exit_code
        != 0
    )  # nothing released is left
    assert book.balance(accounts.disbursed(threshold["id"])).posted == 1_200_000
