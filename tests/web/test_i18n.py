"""Languages: Italian by default, English on request, and a catalog that stays complete.

The pages' strings are Italian msgids translated by web/translations/en; the
catalog tests fail as soon as a string is added to the code or a template
without being extracted and translated, or the .mo is not recompiled.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask, session
from flask.testing import FlaskClient

from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from tests.web.conftest import TRIAL_BALANCE, csrf_token, table_rows
from web.i18n import SESSION_LANGUAGE, format_day, format_instant, format_money

ROOT = Path(__file__).parents[2]
TRANSLATIONS = ROOT / "web" / "translations"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
EN_MO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo"
POT = TRANSLATIONS / "messages.pot"


def choose_language(client: FlaskClient, lang: str) -> None:
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/language", data={"lang": lang, "csrf_token": token})
    assert response.status_code == 302


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', html)
    assert match is not None
    return match.group(1)


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def message_ids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    return {message.id for message in catalog if message.id}


# --------------------------------------------------------------------------- choosing
def test_pages_are_in_italian_by_default_even_when_the_browser_asks_for_english(client):
    html = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(
        as_text=True
    )
    assert html_lang(html) == "it"
    assert 'value="Accedi"' in html
    assert "Sign in" not in html


def test_choosing_english_switches_the_page_language_and_its_labels(client):
    choose_language(client, "en")

    html = client.get("/login").get_data(as_text=True)
    assert html_lang(html) == "en"
    assert 'value="Sign in"' in html
    assert "Forgot your password?" in html
    assert ">Register<" in html
    assert "Accedi" not in html


def test_switching_back_to_italian_restores_the_italian_pages(client):
    choose_language(client, "en")
    choose_language(client, "it")

    html = client.get("/login").get_data(as_text=True)
    assert html_lang(html) == "it"
    assert 'value="Accedi"' in html
    assert "Sign in" not in html


@pytest.mark.parametrize("first", [None, "en"])
def test_an_unknown_language_is_ignored_and_the_current_one_stays(client, first):
    if first:
        choose_language(client, first)
    choose_language(client, "de")

    html = client.get("/login").get_data(as_text=True)
    assert html_lang(html) == (first or "it")


def test_the_language_switch_refuses_a_post_without_its_csrf_token(client):
    response = client.post("/language", data={"lang": "en"})
    assert response.status_code == 400
    assert html_lang(client.get("/login").get_data(as_text=True)) == "it"


# --------------------------------------------------------------------------- formats
@pytest.mark.parametrize(
    ("lang", "money", "day", "instant"),
    [
        ("it", "1.234,56 EUR", "15/06/2026", "15/06/2026 14:30"),
        ("en", "1,234.56 EUR", "15 Jun 2026", "15 Jun 2026 14:30"),
    ],
)
def test_amounts_and_dates_follow_the_chosen_language(app: Flask, lang, money, day, instant):
    with app.test_request_context("/"):
        session[SESSION_LANGUAGE] = lang
        assert format_money(123456, "EUR") == money
        assert format_day(date(2026, 6, 15)) == day
        # 12:30 UTC is 14:30 in Rome in June (summer time).
        assert format_instant(datetime(2026, 6, 15, 12, 30, tzinfo=UTC)) == instant


def test_an_amount_keeps_its_currency_exponent_in_both_languages(app: Flask):
    for lang, expected in (("it", "1.234.567 JPY"), ("en", "1,234,567 JPY")):
        with app.test_request_context("/"):
            session[SESSION_LANGUAGE] = lang
            assert format_money(1234567, "JPY") == expected


# --------------------------------------------------------------------------- pages
def test_error_pages_follow_the_chosen_language_and_link_home(client):
    italian = client.get("/non-esiste")
    assert italian.status_code == 404
    html = italian.get_data(as_text=True)
    assert "Pagina non trovata" in html
    assert "Codice: <code>not_found</code> (HTTP 404)" in html
    assert '<a href="/">Torna alla pagina iniziale</a>' in html

    choose_language(client, "en")
    english = client.get("/non-esiste")
    assert english.status_code == 404
    html = english.get_data(as_text=True)
    assert html_lang(html) == "en"
    assert "<h1>Page not found</h1>" in html
    assert "The requested address does not exist." in html
    assert "Code: <code>not_found</code> (HTTP 404)" in html
    assert '<a href="/">Back to the home page</a>' in html
    assert "Pagina non trovata" not in html


def test_the_json_error_envelope_stays_english_whatever_the_language(client):
    choose_language(client, "en")
    english = client.get("/non-esiste", headers={"Accept": "application/json"}).get_json()
    choose_language(client, "it")
    italian = client.get("/non-esiste", headers={"Accept": "application/json"}).get_json()
    expected = {"error": {"code": "not_found", "message": "no such resource", "details": {}}}
    assert english == italian == expected


def test_the_trial_balance_reads_in_english_with_english_amounts_and_account_types(
    treasurer_client, ledger
):
    client = treasurer_client
    ledger.create_account("assets:bank", "asset", name="Conto corrente")
    ledger.create_account("income:donations", "income", name="Donazioni")
    ledger.post(
        EntrySpec(
            "d1",
            "donation",
            [
                PostingSpec("assets:bank", Money.parse("1234.56", "EUR")),
                PostingSpec("income:donations", Money.parse("-1234.56", "EUR")),
            ],
            effective_on=date(2026, 6, 15),
        )
    )

    italian = client.get(f"{TRIAL_BALANCE}?as_of=2026-06-15").get_data(as_text=True)
    rows = table_rows(italian)
    assert rows["thead"] == [["Codice", "Nome", "Tipo", "Dare", "Avere"]]
    assert ["assets:bank", "Conto corrente", "Attività", "1.234,56 EUR", "–zero"] in rows["tbody"]
    assert rows["tfoot"] == [["Totale EUR", "1.234,56 EUR", "1.234,56 EUR"]]
    assert "Saldi per conto al 15/06/2026" in italian

    choose_language(client, "en")
    english = client.get(f"{TRIAL_BALANCE}?as_of=2026-06-15").get_data(as_text=True)
    assert html_lang(english) == "en"
    assert "<h1>Trial balance</h1>" in english
    rows = table_rows(english)
    assert rows["thead"] == [["Code", "Name", "Type", "Debit", "Credit"]]
    assert ["assets:bank", "Conto corrente", "Assets", "1,234.56 EUR", "–zero"] in rows["tbody"]
    assert ["income:donations", "Donazioni", "Income", "–zero", "1,234.56 EUR"] in rows["tbody"]
    assert rows["tfoot"] == [["Total EUR", "1,234.56 EUR", "1,234.56 EUR"]]
    assert "Balances by account as of 15 Jun 2026" in english
    assert "Book balances as of <strong>15 Jun 2026</strong>" in english
    assert "no. 1, recorded on" in english


# --------------------------------------------------------------------------- catalog
def test_the_english_catalog_has_no_untranslated_fuzzy_or_broken_messages():
    catalog = read_catalog(EN_PO)
    assert catalog.locale is not None
    assert str(catalog.locale) == "en"
    untranslated = [
        m.id
        for m in catalog
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    # Placeholders (%(name)s) of every translation match its msgid's.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert problems == []


def test_the_committed_mo_file_matches_a_fresh_compile_of_the_po():
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(EN_PO))
    compiled.seek(0)
    fresh = read_mo(compiled)
    with EN_MO.open("rb") as f:
        committed = read_mo(f)

    def translations(catalog: Catalog) -> dict[object, object]:
        def key(value: object) -> object:
            return tuple(value) if isinstance(value, list | tuple) else value

        return {key(m.id): key(m.string) for m in catalog if m.id}

    assert translations(committed) == translations(fresh)
    assert translations(committed)


def test_every_string_of_the_code_and_templates_is_in_the_catalog(tmp_path):
    pybabel = Path(sys.executable).with_name("pybabel")
    assert pybabel.exists(), f"pybabel not found next to {sys.executable}"
    extracted = tmp_path / "messages.pot"
    subprocess.run(
        [str(pybabel), "-q", "extract", "-F", "babel.cfg", "-o", str(extracted), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    in_code = message_ids(read_catalog(extracted))
    assert "Bilancio di verifica" in in_code
    assert "Donatore" in in_code  # lazy_gettext (_l) in Python is extracted too
    missing = sorted(map(str, in_code - message_ids(read_catalog(EN_PO))))
    stale = sorted(map(str, message_ids(read_catalog(EN_PO)) - in_code))
    assert (missing, stale) == ([], []), (
        "run the extract/update/compile commands at the top of babel.cfg"
    )
    assert message_ids(read_catalog(POT)) == in_code
