"""The pages of matching grants: the officer's dashboard, commitments, statements, the
treasurer's disbursements, and the match shown to donors on the campaign page.

Data is seeded through the real services (the Books harness of the grants
tests, `create_foundation`, `add_officer`, users by `create_user`) and read
back through the engine, so each page's figures are compared with the books.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pyotp
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from ledger.core.models import JournalEntry
from ledger.core.money import format_it, format_minor
from ledger.core.service import Ledger
from ledger.grants.models import Commitment
from ledger.grants.service import add_officer, create_foundation
from ledger.statements.grants import STATE_LABELS, STATES
from tests.integration.grants_helpers import Books, eur
from tests.web.conftest import csrf_token, form_post, make_user, sign_in, totp_code

ENGINE_NAMES = {
    "pledged": "pool_available",
    "reserved": "reserved",
    "earned": "earned",
    "released": "released",
    "disbursed": "disbursed",
    "clawback_due": "clawback_due",
}


def engine_states(books: Books, c: int) -> dict[str, int]:
    got = books.states(c)
    return {state: got[ENGINE_NAMES[state]] for state in STATES}


# Officers enrol TOTP like treasurers: creating and cancelling commitments needs a code.
OFFICER_SECRET = pyotp.random_base32()


def officer_of(
    ledger: Ledger, foundation_id: int, email: str, *, secret: str | None = OFFICER_SECRET
) -> int:
    user_id = make_user(ledger, email, ["foundation_officer"], totp_secret=secret)
    ledger.run(lambda s: add_officer(s, foundation_id, user_id, now=ledger.clock.now()))
    return user_id


@pytest.fixture
def world(ledger: Ledger) -> dict[str, Any]:
    """A live campaign with a ratio commitment of "Fondazione Comunità" and a threshold
    commitment of another foundation, and a few gifts."""
    books = Books(ledger, goal="1000.00")
    mine = books.commit(ratio="2", pool_minor=eur("500.00"), title="Raddoppio di quartiere")
    other_id = ledger.run(
        lambda s: create_foundation(s, name="Fondazione Altrove", now=ledger.clock.now()).id
    )
    books.foundation_id, home = other_id, books.foundation_id
    theirs = books.commit(
        kind="threshold",
        title="Soglia segreta",
        pool_minor=eur("600.00"),
        threshold_share="0.4",
        topup_share="0.6",
        topup_policy="fixed",
    )
    books.foundation_id = home
    books.give("100.00", person=books.person("Annamaria"))
    books.give("30.00")
    return {"books": books, "mine": mine, "theirs": theirs, "other": other_id}


def test_an_officer_sees_only_their_own_foundation(client, ledger, world):
    books = world["books"]
    officer_of(ledger, books.foundation_id, "referente@example.org")
    assert (
        sign_in(client, "referente@example.org", code=totp_code(ledger, OFFICER_SECRET)).status_code
        == 302
    )
    page = client.get("/fondazioni").get_data(as_text=True)
    assert "Fondazione Comunità" in page and "Raddoppio di quartiere" in page
    assert "Fondazione Altrove" not in page and "Soglia segreta" not in page
    assert client.get(f"/fondazioni/impegni/{world['mine']}").status_code == 200
    assert client.get(f"/fondazioni/impegni/{world['theirs']}").status_code == 404
    period = "dal=2026-01-01&al=2026-06-15&formato=pdf"
    assert client.get(f"/fondazioni/{world['other']}/rendiconto?{period}").status_code == 404
    assert client.get(f"/fondazioni/{world['other']}/impegni/nuovo").status_code == 404
    assert client.get(f"/fondazioni/impegni/{world['theirs']}/annulla").status_code == 404
    mine = client.get(f"/fondazioni/{books.foundation_id}/rendiconto?{period}")
    assert mine.status_code == 200 and mine.mimetype == "application/pdf"


def test_an_admin_sees_every_foundation(client, ledger, world):
    make_user(ledger, "admin@example.org", ["admin"])
    sign_in(client, "admin@example.org")
    page = client.get("/fondazioni").get_data(as_text=True)
    assert "Fondazione Comunità" in page and "Fondazione Altrove" in page
    assert client.get(f"/fondazioni/impegni/{world['theirs']}").status_code == 200


def test_the_dashboard_shows_the_engines_states_and_a_chart_with_its_text(client, ledger, world):
    books = world["books"]
    officer_of(ledger, books.foundation_id, "referente@example.org")
    sign_in(client, "referente@example.org", code=totp_code(ledger, OFFICER_SECRET))
    page = client.get("/fondazioni").get_data(as_text=True)
    states = engine_states(books, world["mine"])
    assert states["reserved"] == eur("260.00")  # 2 x 130
    assert format_it(states["reserved"], "EUR") in page
    assert format_it(states["pledged"], "EUR") in page
    assert '<svg role="img"' in page
    title = re.search(r"<title id=\"chart-[^\"]+\">([^<]+)</title>", page)
    assert title is not None
    assert "130,00 EUR" in title.group(1) and "260,00 EUR" in title.group(1)
    assert "style=" not in page and "<script" not in page


def new_commitment_form(**settings: str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Cofinanziamento di prova",
        "kind": "ratio",
        "pool": "1000",
        "window_start": "2026-06-01",
        "window_end": "2026-12-31",
        "counting": "gross",
        "clawback_policy": "claw_back",
        "methods": ["card", "bank_transfer", "cash"],
        "topup_policy": "fixed",
    }
    base.update(settings)
    return base


def post_form(client, url: str, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    html = client.get(url).get_data(as_text=True)
    form_key = re.search(r'name="form_key"[^>]*value="([^"]*)"', html)
    payload = {"csrf_token": csrf_token(html), **data}
    if form_key:
        payload["form_key"] = form_key.group(1)
    return client.post(url, data=payload)


def commitments_of(ledger: Ledger, foundation_id: int) -> list[Commitment]:
    def read(session: Any) -> list[Commitment]:
        rows = list(
            session.scalars(
                select(Commitment)
                .where(Commitment.foundation_id == foundation_id)
                .order_by(Commitment.id)
            )
        )
        session.expunge_all()
        return rows

    return ledger.read(read)


def test_an_officer_creates_both_kinds_of_commitment_through_the_form(client, ledger, world):
    books = world["books"]
    officer_of(ledger, books.foundation_id, "referente@example.org")
    sign_in(client, "referente@example.org", code=totp_code(ledger, OFFICER_SECRET))
    url = f"/fondazioni/{books.foundation_id}/impegni/nuovo"
    ratio = post_form(
        client,
        url,
        new_commitment_form(
            title="2 EUR per ogni 1 EUR",
            scope=f"c:{books.campaign_id}",
            ratio="2",
            pool="5.000,00",
            donor_cap="100",
            methods=["card"],
        ),
    )
    assert ratio.status_code == 303, ratio.get_data(as_text=True)
    threshold = post_form(
        client,
        url,
        new_commitment_form(
            title="Raccogliete il 40%, aggiungiamo il 60%",
            kind="threshold",
            scope=f"c:{books.campaign_id}",
            pool="48000",
            threshold="40%",
            topup="60%",
            topup_cap="48000",
            counting="net",
            clawback_policy="keep",
        ),
    )
    assert threshold.status_code == 303, threshold.get_data(as_text=True)
    made = commitments_of(ledger, books.foundation_id)[-2:]
    assert [(c.kind, c.ratio, c.pool_minor, c.methods, c.donor_cap_minor) for c in made[:1]] == [
        ("ratio", "2", eur("5000.00"), "card", eur("100.00"))
    ]
    t = made[1]
    assert (t.threshold_share, t.topup_share, t.topup_cap_minor, t.topup_policy) == (
        "0.4",
        "0.6",
        eur("48000.00"),
        "fixed",
    )
    assert (t.count_net, t.clawback_policy) == (True, "keep")
    assert engine_states(books, made[0].id)["pledged"] == eur("5000.00")
    # A goal of 1,000: 60 % is 600 reserved at once on the pool.
    assert engine_states(books, t.id)["reserved"] == eur("600.00")
    assert threshold.headers["Location"].endswith(f"/fondazioni/impegni/{t.id}")


def count_rows(ledger: Ledger) -> tuple[int, int]:
    return ledger.read(
        lambda s: (
            int(s.scalar(select(func.count(Commitment.id))) or 0),
            int(s.scalar(select(func.count(JournalEntry.id))) or 0),
        )
    )


@pytest.mark.parametrize(
    ("settings", "field", "text"),
    [
        ({"ratio": "abc"}, "ratio", "Rapporto non valido"),
        ({"ratio": ""}, "ratio", "Indica quanti EUR"),
        ({"pool": "12,345"}, "pool", "Importo non valido"),
        ({"window_end": "2026-05-01"}, "window_end", "La fine viene prima"),
        ({"methods": []}, "methods", "almeno un metodo"),
        ({"kind": "threshold", "threshold": "", "topup": "60%"}, "threshold", "obbligatorio"),
        ({"kind": "threshold", "threshold": "140%", "topup": "60%"}, "threshold", "tra 0 e 100"),
        ({"scope": ""}, "scope", ""),
    ],
)
def test_a_bad_commitment_form_is_refused_in_italian_and_writes_nothing(
    client, ledger, world, settings, field, text
):
    books = world["books"]
    officer_of(ledger, books.foundation_id, "referente@example.org")
    sign_in(client, "referente@example.org", code=totp_code(ledger, OFFICER_SECRET))
    before = count_rows(ledger)
    data = new_commitment_form(scope=f"c:{books.campaign_id}", ratio="2")
    data.update(settings)
    response = post_form(client, f"/fondazioni/{books.foundation_id}/impegni/nuovo", data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page or (field == "methods" and "error-text" in page)
    assert text in page
    assert count_rows(ledger) == before


def test_an_officer_with_a_password_only_can_neither_create_nor_cancel_a_commitment(
    client, ledger, world
):
    books = world["books"]
    officer_of(ledger, books.foundation_id, "referente@example.org", secret=None)
    assert sign_in(client, "referente@example.org").status_code == 302
    before = count_rows(ledger)
    new = f"/fondazioni/{books.foundation_id}/impegni/nuovo"
    cancel = f"/fondazioni/impegni/{world['mine']}/annulla"
    html = client.get("/fondazioni").get_data(as_text=True)
    data = new_commitment_form(scope=f"c:{books.campaign_id}", ratio="2")

    for url, payload in ((new, data), (cancel, {})):
        posted = client.post(url, data={"csrf_token": csrf_token(html), **payload})
        shown = client.get(url)
        for response in (posted, shown):
            assert response.status_code == 302, (url, response.status_code)
            assert response.headers["Location"].startswith("/account/2fa")

    assert count_rows(ledger) == before
    assert commitments_of(ledger, books.foundation_id)[0].status != "cancelled"


def test_an_officer_cancels_a_commitment_after_confirming(client, ledger, world):
    books = world["books"]
    officer_of(ledger, books.foundation_id, "referente@example.org")
    sign_in(client, "referente@example.org", code=totp_code(ledger, OFFICER_SECRET))
    url = f"/fondazioni/impegni/{world['mine']}/annulla"
    assert "Annullare" in client.get(url).get_data(as_text=True)
    response = form_post(client, url, {})
    assert response.status_code == 303
    states = books.states(world["mine"])
    # The matches of gifts already received stay reserved; the rest of the pool goes back.
    assert states["reserved"] == eur("260.00") and states["pool_available"] == 0
    assert states["word"] == eur("260.00")
    assert commitments_of(ledger, books.foundation_id)[0].status == "cancelled"


def test_statement_downloads_are_a_pdf_and_a_csv_whose_figures_equal_the_engines(
    client, ledger, world
):
    books = world["books"]
    officer_of(ledger, books.foundation_id, "referente@example.org")
    sign_in(client, "referente@example.org", code=totp_code(ledger, OFFICER_SECRET))
    base = f"/fondazioni/{books.foundation_id}/rendiconto?dal=2026-06-01&al=2026-06-15"
    pdf = client.get(base + "&formato=pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    text = " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf.data)).pages
    )
    states = engine_states(books, world["mine"])
    for state, amount in states.items():  # opening (nothing on 31 May) and closing
        assert f"{STATE_LABELS[state]} 0,00 EUR {format_it(amount, 'EUR')}" in text
    assert "Soglia segreta" not in text  # the other foundation's commitment
    response = client.get(base + "&formato=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    figures = {
        r["voce"]: r["importo"]
        for r in rows
        if r["sezione"] == "impegno" and r["impegno"] == str(world["mine"]) and r["valuta"]
    }
    assert {s: figures[s] for s in STATES} == {s: format_minor(v, "EUR") for s, v in states.items()}
    assert not [r for r in rows if r["impegno"] == str(world["theirs"])]


def test_a_statement_period_that_is_not_a_period_is_refused_with_the_form(client, ledger, world):
    books = world["books"]
    officer_of(ledger, books.foundation_id, "referente@example.org")
    sign_in(client, "referente@example.org", code=totp_code(ledger, OFFICER_SECRET))
    url = f"/fondazioni/{books.foundation_id}/rendiconto"
    assert client.get(url).status_code == 200
    refused = client.get(url + "?dal=2026-06-10&al=2026-06-01&formato=pdf")
    assert refused.status_code == 422
    assert "finisce prima di cominciare" in refused.get_data(as_text=True)


def test_a_treasurer_records_a_disbursement_and_cannot_record_more_than_released(
    client, ledger, world
):
    books = world["books"]
    secret = pyotp.random_base32()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret))
    books.close()
    released = engine_states(books, world["mine"])["released"]
    assert released == eur("260.00")
    lines = client.get("/tesoreria/cofinanziamenti").get_data(as_text=True)
    assert "260,00 EUR" in lines
    url = f"/tesoreria/cofinanziamenti/{world['mine']}/{books.campaign_id}/erogazione"
    too_much = post_form(client, url, {"amount": "260,01", "reference": "BONIFICO 1"})
    assert too_much.status_code == 422
    assert "al massimo 260,00 EUR" in too_much.get_data(as_text=True)
    assert engine_states(books, world["mine"])["disbursed"] == 0
    done = post_form(client, url, {"amount": "200,00", "reference": "BONIFICO 1"})
    assert done.status_code == 303
    states = engine_states(books, world["mine"])
    assert (states["disbursed"], states["released"]) == (eur("200.00"), eur("60.00"))
    assert ledger.balance(f"liabilities:campaigns:{books.campaign_id}:match").posted == eur(
        "200.00"
    )


def test_the_campaign_page_shows_the_match_so_far_and_what_a_gift_adds_now(client, world):
    books = world["books"]
    page = client.get(f"/campagne/{books.campaign_id}").get_data(as_text=True)
    assert "Fondazione Comunità" in page and "Fondazione Altrove" in page
    assert "260,00 EUR" in page  # 2 x 130 matched so far
    # Default quote: 10 EUR now becomes 10 + 20 (ratio); the threshold is not reached.
    assert "10,00 EUR" in page and "30,00 EUR" in page
    asked = client.get(f"/campagne/{books.campaign_id}?quanto=300").get_data(as_text=True)
    # 300 + 2 x 120 (the pool has 240 left) + 600 (300 reaches 40 % of 1,000) = 1,140
    assert "1.140,00 EUR" in asked
    assert "adesso" in asked
    bad = client.get(f"/campagne/{books.campaign_id}?quanto=abc")
    assert bad.status_code == 200
    assert "Importo non valido" in bad.get_data(as_text=True)


def test_a_double_submitted_disbursement_is_recorded_once(client, ledger, world):
    books = world["books"]
    secret = pyotp.random_base32()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret))
    books.close()
    url = f"/tesoreria/cofinanziamenti/{world['mine']}/{books.campaign_id}/erogazione"
    html = client.get(url).get_data(as_text=True)
    form_key = re.search(r'name="form_key"[^>]*value="([^"]*)"', html)
    assert form_key is not None
    data = {
        "csrf_token": csrf_token(html),
        "form_key": form_key.group(1),
        "amount": "100,00",
        "reference": "BONIFICO 7",
    }
    assert client.post(url, data=data).status_code == 303
    assert client.post(url, data=data).status_code == 303
    states = engine_states(books, world["mine"])
    assert (states["disbursed"], states["released"]) == (eur("100.00"), eur("160.00"))
    assert len(books.entries_of_kind("match_disbursement")) == 1


def test_a_treasurer_records_a_clawback_repaid_to_the_foundation(client, ledger, world):
    books = world["books"]
    secret = pyotp.random_base32()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret))
    gift = books.give("50.00")
    books.close()
    base = f"/tesoreria/cofinanziamenti/{world['mine']}/{books.campaign_id}"
    everything = format_it(engine_states(books, world["mine"])["released"], "EUR")
    assert everything == "360,00 EUR"  # 2 x 180
    assert (
        post_form(client, f"{base}/erogazione", {"amount": "360", "reference": "B1"}).status_code
        == 303
    )
    books.refund(gift, "20.00")  # after the whole match was paid in: 40 due back
    assert engine_states(books, world["mine"])["clawback_due"] == eur("40.00")
    assert "40,00 EUR" in client.get("/tesoreria/cofinanziamenti").get_data(as_text=True)
    too_much = post_form(client, f"{base}/restituzione", {"amount": "40,01", "reference": "R1"})
    assert too_much.status_code == 422
    done = post_form(client, f"{base}/restituzione", {"amount": "40", "reference": "R1"})
    assert done.status_code == 303
    states = engine_states(books, world["mine"])
    assert states["clawback_due"] == 0
    assert states["pledged"] == eur("500.00") - eur("360.00") + eur("40.00")
    assert ledger.balance(f"liabilities:grants:{world['mine']}:clawback").posted == 0


@pytest.mark.parametrize("form", ["erogazione", "restituzione"])
def test_a_reused_form_key_with_another_amount_is_answered_as_a_conflict_and_books_nothing(
    client, ledger, world, form
):
    books = world["books"]
    secret = pyotp.random_base32()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret))
    gift = books.give("50.00")
    books.close()
    base = f"/tesoreria/cofinanziamenti/{world['mine']}/{books.campaign_id}"
    if form == "restituzione":  # all 360 paid in, then a refund makes 40 due back
        assert (
            post_form(client, f"{base}/erogazione", {"amount": "360", "reference": "B1"})
        ).status_code == 303
        books.refund(gift, "20.00")
    url = f"{base}/{form}"
    html = client.get(url).get_data(as_text=True)
    form_key = re.search(r'name="form_key"[^>]*value="([^"]*)"', html)
    assert form_key is not None
    data = {"csrf_token": csrf_token(html), "form_key": form_key.group(1), "reference": "R7"}
    first = client.post(url, data={**data, "amount": "10,00"})
    assert first.status_code == 303
    client.get(first.headers["Location"])  # the browser follows it: the flash is shown there
    before = engine_states(books, world["mine"])
    entries = ledger.read(lambda s: s.scalar(select(func.count()).select_from(JournalEntry)))

    attack = client.post(url, data={**data, "amount": "30,00"})

    html = attack.get_data(as_text=True)
    assert attack.status_code == 409
    assert "Erogazione registrata" not in html and "Restituzione registrata" not in html
    assert "Questo modulo era già stato inviato con altri dati" in html
    assert engine_states(books, world["mine"]) == before
    assert ledger.read(lambda s: s.scalar(select(func.count()).select_from(JournalEntry))) == (
        entries
    )
