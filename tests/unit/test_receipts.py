"""Receipts for gifts to a Third Sector entity: rules, texts and the rendered PDF."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from ledger.core.errors import InvalidAmountError, UnknownCurrencyError
from ledger.statements import pdf_fonts
from ledger.statements.receipts import (
    ANONYMOUS_DONOR,
    CASH_RELIEF_TEXT,
    InvalidReceiptError,
    ReceiptData,
    format_receipt_number,
    is_traceable,
    render_receipt_pdf,
    tax_relief_text,
)


def receipt(**changes: object) -> ReceiptData:
    fields: dict[str, object] = {
        "recipient_name": "Associazione FareLegami APS",
        "recipient_tax_code": "93012345678",
        "recipient_qualification": "APS",
        "runts_number": "RUNTS-45678",
        "recipient_address": "Via dei Mille 4\n26100 Cremona (CR)",
        "number": "2026/000017",
        "issued_on": date(2026, 3, 12),
        "donor_name": "Maria Rossi",
        "donor_codice_fiscale": "RSSMRA85T10A562S",
        "amount_minor": 123456,
        "currency": "EUR",
        "donated_on": date(2026, 3, 7),
        "method": "card",
        "payment_reference": "ch_3PqRstUvWxYz",
        "campaign_title": "Un forno per il quartiere",
    }
    fields.update(changes)
    return ReceiptData(**fields)  # type: ignore[arg-type]


def pdf_text(data: ReceiptData) -> str:
    reader = PdfReader(io.BytesIO(render_receipt_pdf(data)))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """Extracted text with line breaks folded to spaces, for phrases that may wrap."""
    return " ".join(text.split())


# --------------------------------------------------------------------------- numbering


def test_a_receipt_number_is_the_year_and_six_digits():
    assert format_receipt_number(2026, 17) == "2026/000017"
    assert format_receipt_number(2026, 1) == "2026/000001"
    assert format_receipt_number(2027, 999999) == "2027/999999"


@pytest.mark.parametrize(
    ("year", "n"), [(2026, 0), (2026, -1), (2026, 1_000_000), (26, 1), (2026, True)]
)
def test_a_receipt_number_out_of_range_is_refused(year, n):
    with pytest.raises(InvalidReceiptError):
        format_receipt_number(year, n)


# ------------------------------------------------------------------------ traceability and relief


def test_card_and_bank_transfer_are_traceable_and_cash_is_not():
    assert is_traceable("card") is True
    assert is_traceable("bank_transfer") is True
    assert is_traceable("cash") is False


def test_an_unknown_payment_method_is_refused_rather_than_guessed():
    with pytest.raises(InvalidReceiptError):
        is_traceable("cheque")


@pytest.mark.parametrize(
    "label",
    ["ODV", "odv", "O.D.V.", "Organizzazione di volontariato", "ODV iscritta al RUNTS", "ETS-ODV"],
)
def test_a_traceable_gift_to_an_odv_states_a_35_percent_detraction(label):
    text = tax_relief_text(label, "card")
    assert "35%" in text
    assert "30%" not in text
    assert "art. 83" in text
    assert "D.Lgs. 117/2017" in text
    assert "30.000 euro" in text


@pytest.mark.parametrize(
    "label", ["APS", "ETS", "Ente filantropico", "Impresa sociale", "ETS iscritto al RUNTS"]
)
def test_a_traceable_gift_to_another_ets_states_a_30_percent_detraction(label):
    text = tax_relief_text(label, "bank_transfer")
    assert "30%" in text
    assert "35%" not in text
    assert "30.000 euro" in text


def test_the_relief_text_offers_the_10_percent_deduction_as_a_non_cumulable_alternative():
    text = tax_relief_text("APS", "card")
    assert "detrarre dall'imposta lorda IRPEF" in text
    assert "In alternativa" in text
    assert "deducibile" in text
    assert "10% del reddito complessivo dichiarato" in text
    assert "non sono cumulabili" in text


@pytest.mark.parametrize("label", ["ODV", "APS", "ETS"])
def test_a_cash_gift_is_stated_neither_detractable_nor_deductible(label):
    text = tax_relief_text(label, "cash")
    assert text == CASH_RELIEF_TEXT
    assert text.startswith("Erogazione in contanti: non detraibile né deducibile")
    assert "tracciabile" in text
    assert "%" not in text


def test_the_relief_text_refuses_an_unknown_method():
    with pytest.raises(InvalidReceiptError):
        tax_relief_text("ODV", "paypal")


# --------------------------------------------------------------------------- validation


def test_valid_receipt_data_is_frozen():
    data = receipt()
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.amount_minor = 1  # type: ignore[misc]


@pytest.mark.parametrize("amount", [0, -100, 12.5, True, "1234"])
def test_an_amount_that_is_not_a_positive_integer_is_refused(amount):
    with pytest.raises(InvalidAmountError):
        receipt(amount_minor=amount)


def test_an_unknown_currency_is_refused():
    with pytest.raises(UnknownCurrencyError):
        receipt(currency="EURO")


def test_an_unknown_method_is_refused_on_construction():
    with pytest.raises(InvalidReceiptError):
        receipt(method="cheque")


@pytest.mark.parametrize(
    "field", ["recipient_name", "recipient_tax_code", "recipient_qualification", "number"]
)
def test_a_blank_required_text_is_refused(field):
    with pytest.raises(InvalidReceiptError):
        receipt(**{field: "  "})


@pytest.mark.parametrize("field", ["donor_codice_fiscale", "runts_number", "payment_reference"])
def test_a_blank_optional_text_is_refused_in_favour_of_none(field):
    with pytest.raises(InvalidReceiptError, match="None"):
        receipt(**{field: ""})


def test_a_datetime_is_refused_where_a_business_date_is_expected():
    with pytest.raises(InvalidReceiptError):
        receipt(donated_on=datetime(2026, 3, 7, 10, 0, tzinfo=UTC))


def test_a_receipt_cannot_be_issued_before_the_gift():
    with pytest.raises(InvalidReceiptError):
        receipt(donated_on=date(2026, 3, 13), issued_on=date(2026, 3, 12))


def test_a_receipt_cannot_be_voided_before_it_is_issued():
    with pytest.raises(InvalidReceiptError):
        receipt(voided_on=date(2026, 3, 11))


def test_a_void_reason_without_a_void_date_is_refused():
    with pytest.raises(InvalidReceiptError):
        receipt(void_reason="Rimborso")


# ------------------------------------------------------------------------ names in any script

NAMES = ["Иван Петров", "محمد علي", "王小明", "Niccolò Zoë Dell'Acqua", "Ștefan Łukasiewicz Đurić"]


@pytest.mark.parametrize("name", NAMES)
def test_a_receipt_prints_a_name_in_any_script_as_written(name):
    data = receipt(donor_name=name, campaign_title=f"Un forno per {name}")
    text = pdf_text(data)
    assert name in text
    assert f"Un forno per {name}" in flat(text)


@pytest.mark.parametrize("name", NAMES)
def test_a_receipt_with_a_name_in_another_script_renders_identical_bytes_every_time(name):
    data = receipt(donor_name=name)
    first = render_receipt_pdf(data)
    render_receipt_pdf(receipt(donor_name="王小明 Иван محمد"))  # other glyphs in between
    assert render_receipt_pdf(data) == first


def test_a_receipt_embeds_the_shipped_fonts_and_uses_no_built_in_one():
    reader = PdfReader(io.BytesIO(render_receipt_pdf(receipt(donor_name="王小明"))))
    fonts = [
        font.get_object() for page in reader.pages for font in page["/Resources"]["/Font"].values()
    ]
    # Subsets ("AAAAAA+DejaVuSans") of the shipped files, each embedded in the PDF.
    assert {str(f["/BaseFont"]).split("+")[-1] for f in fonts} == {
        "DejaVuSans",
        "DejaVuSans-Bold",
        "DroidSansFallback",
    }
    assert all("/FontFile2" in f["/FontDescriptor"].get_object() for f in fonts)


def test_whitespace_is_collapsed_and_zero_width_characters_dropped_in_the_pdf():
    assert pdf_fonts.pdf_text("  Maria\u200b \t Rossi ") == "Maria Rossi"
    assert pdf_text(receipt(donor_name="  Maria\u200b \t Rossi ")).count("Maria Rossi") == 1


def test_a_right_to_left_run_is_drawn_in_visual_order_with_its_numbers_in_order():
    assert pdf_fonts.visual_order("محمد علي") == "يلع دمحم"
    assert pdf_fonts.visual_order("Dono di שלום 12 (x)") == "Dono di םולש 12 (x)"
    assert pdf_fonts.visual_order("דירה 12/3 אבג") == "גבא 12/3 הריד"
    assert pdf_fonts.visual_order("אב (גד) הו") == "וה (דג) בא"
    assert pdf_fonts.visual_order("Fondazione محمد - 01/01/2026 - pagina 1") == (
        "Fondazione دمحم - 01/01/2026 - pagina 1"
    )
    assert pdf_fonts.visual_order("Niccolò") == "Niccolò"


# --------------------------------------------------------------------------- the PDF


def test_a_receipt_pdf_starts_with_the_pdf_header_and_pypdf_opens_it():
    pdf = render_receipt_pdf(receipt())
    assert pdf.startswith(b"%PDF")
    assert pdf.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1


def test_the_pdf_is_a4():
    reader = PdfReader(io.BytesIO(render_receipt_pdf(receipt())))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_the_same_data_renders_identical_bytes_twice():
    assert render_receipt_pdf(receipt()) == render_receipt_pdf(receipt())


def test_different_data_renders_different_bytes():
    assert render_receipt_pdf(receipt()) != render_receipt_pdf(receipt(amount_minor=123457))


def test_the_pdf_metadata_names_the_receipt_and_its_issuer_and_is_dated_on_issue():
    reader = PdfReader(io.BytesIO(render_receipt_pdf(receipt())))
    meta = reader.metadata
    assert meta is not None
    assert meta.title == "Ricevuta di erogazione liberale n. 2026/000017"
    assert meta.author == "Associazione FareLegami APS"
    assert meta.subject is not None
    assert "Un forno per il quartiere" in meta.subject
    assert meta["/CreationDate"] == "D:20260312"


def test_the_pdf_metadata_carries_no_donor_data():
    reader = PdfReader(io.BytesIO(render_receipt_pdf(receipt())))
    meta = reader.metadata
    assert meta is not None
    values = " ".join(str(v) for v in meta.values())
    assert "Rossi" not in values
    assert "RSSMRA85T10A562S" not in values


def test_the_pdf_shows_the_title_with_the_number():
    assert "Ricevuta di erogazione liberale n. 2026/000017" in pdf_text(receipt())


def test_the_pdf_shows_the_recipient_its_tax_code_qualification_and_runts_number():
    text = pdf_text(receipt())
    assert "Associazione FareLegami APS" in text
    assert "93012345678" in text
    assert "APS" in text
    assert "RUNTS-45678" in text
    assert "26100 Cremona (CR)" in text


def test_the_pdf_omits_the_runts_line_when_no_number_is_given():
    assert "RUNTS" not in pdf_text(receipt(runts_number=None))


def test_the_pdf_shows_the_donor_and_their_codice_fiscale_when_given():
    text = pdf_text(receipt())
    assert "Maria Rossi" in text
    assert "RSSMRA85T10A562S" in text


def test_the_pdf_omits_the_donor_codice_fiscale_when_not_given():
    text = pdf_text(receipt(donor_codice_fiscale=None))
    assert "Maria Rossi" in text
    assert "RSSMRA85T10A562S" not in text
    assert text.count("Codice fiscale") == 1  # the recipient's only


def test_a_donor_without_a_name_is_printed_as_anonymous():
    text = pdf_text(receipt(donor_name=None, donor_codice_fiscale=None))
    assert ANONYMOUS_DONOR in text
    assert "Maria Rossi" not in text


def test_the_pdf_shows_the_amount_in_italian_figures_and_in_words():
    text = pdf_text(receipt())
    assert "1.234,56 EUR" in text
    assert "milleduecentotrentaquattro/56 euro" in text


def test_the_pdf_shows_a_large_amount_in_figures_and_words():
    text = flat(pdf_text(receipt(amount_minor=123456789)))
    assert "1.234.567,89 EUR" in text
    assert "unmilioneduecentotrentaquattromilacinquecentosessantasette/89" in text


def test_the_pdf_shows_the_dates_in_italian_format():
    text = pdf_text(receipt())
    assert "07/03/2026" in text  # the gift
    assert "Emessa il 12/03/2026" in text
    assert not re.search(r"2026-03-0?7", text)


def test_the_pdf_shows_the_card_method_its_reference_and_that_it_is_traceable():
    text = pdf_text(receipt())
    assert "Carta di pagamento" in text
    assert "ch_3PqRstUvWxYz" in text
    assert "Pagamento tracciabile\nSì" in text


def test_the_pdf_shows_a_bank_transfer_and_its_reference():
    text = pdf_text(receipt(method="bank_transfer", payment_reference="CL-2026-7F3K9Q"))
    assert "Bonifico bancario" in text
    assert "CL-2026-7F3K9Q" in text
    assert "Pagamento tracciabile\nSì" in text


def test_the_pdf_of_a_cash_gift_says_not_traceable_and_not_deductible():
    text = pdf_text(receipt(method="cash", payment_reference=None))
    assert "Contanti" in text
    assert "Pagamento tracciabile\nNo" in text
    assert "non detraibile né deducibile" in flat(text)


def test_the_pdf_states_the_gift_has_no_consideration_and_names_the_campaign():
    text = flat(pdf_text(receipt()))
    assert "erogazione liberale, senza alcuna controprestazione" in text
    assert "attività istituzionali" in text
    assert "«Un forno per il quartiere»" in text


def test_the_pdf_states_the_relief_for_the_recipient_s_qualification():
    assert "il 30% dell'importo erogato" in flat(pdf_text(receipt()))
    odv = receipt(recipient_qualification="ODV", recipient_name="Associazione #genera_azioni ODV")
    assert "il 35% dell'importo erogato" in flat(pdf_text(odv))


def test_a_receipt_that_is_not_voided_carries_no_annullata():
    assert "ANNULLATA" not in pdf_text(receipt())


def test_a_voided_receipt_shows_annullata_with_the_void_date_and_reason():
    data = receipt(voided_on=date(2026, 4, 2), void_reason="Donazione rimborsata")
    text = pdf_text(data)
    assert "ANNULLATA" in text
    assert "RICEVUTA ANNULLATA il 02/04/2026" in text
    assert "Motivo: Donazione rimborsata" in text
    assert "non ha valore ai fini fiscali" in text
    reader = PdfReader(io.BytesIO(render_receipt_pdf(data)))
    assert reader.metadata is not None
    assert "ANNULLATA" in str(reader.metadata.subject)


def test_a_voided_receipt_keeps_its_number_and_differs_from_the_valid_one():
    valid = receipt()
    void = receipt(voided_on=date(2026, 4, 2))
    assert "n. 2026/000017" in pdf_text(void)
    assert render_receipt_pdf(void) != render_receipt_pdf(valid)
    assert render_receipt_pdf(void) == render_receipt_pdf(receipt(voided_on=date(2026, 4, 2)))


def test_markup_in_a_name_is_printed_as_text_not_interpreted():
    text = pdf_text(receipt(donor_name="Rossi & Figli <b>srl</b>"))
    assert "Rossi & Figli <b>srl</b>" in text


def test_a_name_with_letters_outside_windows_1252_keeps_its_diacritics():
    assert "Ștefan Popescu" in pdf_text(receipt(donor_name="Ștefan Popescu"))


def test_a_long_campaign_title_and_address_still_fit_one_page():
    data = receipt(
        campaign_title="Un forno per il quartiere: pane, lavoro e formazione " * 4,
        recipient_address="Via dei Mille 4\nc/o Casa delle Associazioni\n26100 Cremona (CR)",
        voided_on=date(2026, 4, 2),
        void_reason="Donazione rimborsata su richiesta del donatore",
        amount_minor=99_999_999_999_999,
    )
    reader = PdfReader(io.BytesIO(render_receipt_pdf(data)))
    assert len(reader.pages) == 1


def test_render_refuses_anything_but_receipt_data():
    with pytest.raises(TypeError):
        render_receipt_pdf({"number": "2026/000001"})  # type: ignore[arg-type]
