"""The third-party bank statement files the reconciliation tests read (never copied here).

They live in `../shared/fixtures/bank/` next to the repository, or where
LEDGER_BANK_FIXTURES says. A missing folder fails the test that needs it, with
the reason: these tests are never skipped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

FI_053 = "camt053/FI_camt_053_sample.xml.xml"
POSTFINANCE_053 = "camt053/camt.053_P_CH2909000000250094239_1110092698_0_2020112503071366.xml"
LITHUANIAN_053 = "camt053/statement_1.xml"
MULTI_053 = "camt053/camt053.v2.multi.statement.xml"
FI_054 = "camt054/FI_camt_054_sample.xml.xml"
POSTFINANCE_054 = (
    "camt054/200519_camt054-ESR-ASR_P_CH2909000000250094239_1110092704_0_2019042500372179.xml"
)


def fixtures_dir() -> Path:
    folder = Path(os.environ.get("LEDGER_BANK_FIXTURES") or REPO.parent / "shared/fixtures/bank")
    if not (folder / "README.md").is_file():
        pytest.fail(
            f"the bank statement fixtures are missing: {folder} (set LEDGER_BANK_FIXTURES to "
            "the folder holding ../shared/fixtures/bank)",
            pytrace=False,
        )
    return folder


def fixture_bytes(name: str) -> bytes:
    return (fixtures_dir() / name).read_bytes()


BANCOPOSTA_CSV = "csv/bancoposta.csv"
BONIFICO_CSV = "csv/bonifico.csv"
SEPA_SNIPPET_MT940 = "mt940/sepa_snippet.sta"
