"""The report to a funder (`ledger.projects.report.FunderReport`) as JSON, CSV and XLSX.

The funder re-types nothing: the same figures in every format. JSON amounts are
decimal strings in the currency's scale ("54000.00"), shares four-place decimal
strings ("0.4000"); the CSV goes through the one safe writer (`csv_cells`:
texts escaped against formulas, amounts as figures); the XLSX (openpyxl) writes
amounts as numbers of the currency's unit with two decimals shown, texts that
look like formulas are written as text, never as formulas. Labels are Italian.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from ledger.core.money import exponent, format_minor
from ledger.projects.report import FunderReport
from ledger.statements.csv_cells import amount_cell, csv_writer, escape_text

KIND_WORDS = {"interim": "Stato di avanzamento", "final": "Rendiconto finale"}
PAID_BY_WORDS = {"bank": "banca", "payable": "da pagare", "partner": "sostenuta dal partner"}


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def report_json(r: FunderReport) -> dict[str, Any]:
    """The report as JSON data (amounts as decimal strings)."""
    cur = r.currency

    def m(minor: int) -> str:
        return format_minor(minor, cur)

    return {
        "project": {
            "id": r.project_id,
            "title": r.title,
            "lead": r.lead,
            "programme": r.programme,
            "call_reference": r.call_reference,
        },
        "funder": {"id": r.foundation_id, "name": r.funder_name},
        "kind": r.kind,
        "from": r.starts_on.isoformat(),
        "to": r.ends_on.isoformat(),
        "currency": cur,
        "budget_version": r.budget_version,
        "variance_threshold_pct": str(r.variance_pct),
        "lines": [
            {
                "code": line.code,
                "category": line.category,
                "title": line.title,
                "budget": m(line.budget_minor),
                "actual": m(line.actual_minor),
                "pct": _pct(line.pct),
                "flagged": line.flagged,
            }
            for line in r.lines
        ],
        "sources": [
            {
                "source": s.source,
                "ref": s.ref,
                "label": s.label,
                "budget": m(s.budget_minor),
                "actual": m(s.actual_minor),
                "counted": s.counted,
            }
            for s in r.sources
        ],
        "total_budget": m(r.total_budget_minor),
        "total_actual": m(r.total_actual_minor),
        "grant": m(r.grant_minor),
        "grant_budget": m(r.grant_budget_minor),
        "grant_actual": m(r.grant_actual_minor),
        "grant_due": m(r.grant_due_minor),
        "grant_due_rounding": r.grant_rounding,
        "cofinancing_share": str(r.cofinancing_share),
        "cofinancing_share_budget": str(r.cofinancing_share_budget),
        "advances": m(r.advances_minor),
        "still_due": m(r.still_due_minor),
        "to_give_back": m(r.to_give_back_minor),
        "documents": [
            {
                "id": d.id,
                "kind": d.kind,
                "number": d.number,
                "issued_on": d.issued_on.isoformat(),
                "supplier": d.supplier,
                "net": m(d.net_minor),
                "vat": m(d.vat_minor),
                "eligible": m(d.eligible_minor),
                "charged": m(d.charged_minor),
                "charged_to_funder": m(d.charged_to_funder_minor),
                "paid_by": d.paid_by,
                "proof_of_payment": d.proof,
                "sha256": d.sha256,
            }
            for d in r.documents
        ],
        "figurative": {
            "volunteer_hours": str(Decimal(r.figurative.volunteer_minutes) / 60),
            "volunteer": m(r.figurative.volunteer_minor),
            "volunteer_budget": m(r.figurative.volunteer_budget_minor),
            "volunteer_counted": r.figurative.volunteer_counted,
            "in_kind": m(r.figurative.in_kind_minor),
            "in_kind_budget": m(r.figurative.in_kind_budget_minor),
            "in_kind_counted": r.figurative.in_kind_counted,
        },
        "chain_head": {"sequence": r.head_sequence, "hash": r.head_hash},
    }


def _rows(r: FunderReport, amount: Any) -> list[list[Any]]:
    """The report as rows of cells; `amount(minor)` makes an amount cell."""
    rows: list[list[Any]] = [
        [KIND_WORDS[r.kind], r.title],
        ["Capofila", r.lead],
        ["Finanziatore", r.funder_name],
        ["Periodo", r.starts_on, r.ends_on],
        ["Valuta", r.currency],
        ["Versione del budget", r.budget_version],
        ["Soglia di scostamento (%)", r.variance_pct],
        [],
        ["Voce", "Categoria", "Descrizione", "Budget", "Speso", "%", "Oltre soglia"],
    ]
    for line in r.lines:
        rows.append(
            [
                line.code,
                line.category,
                line.title,
                amount(line.budget_minor),
                amount(line.actual_minor),
                line.pct,
                "sì" if line.flagged else "no",
            ]
        )
    rows += [[], ["Fonte", "Budget", "Effettivo", "Conteggiata"]]
    for s in r.sources:
        rows.append(
            [s.label, amount(s.budget_minor), amount(s.actual_minor), "sì" if s.counted else "no"]
        )
    rows += [
        [],
        ["Voce", "Importo"],
        ["Costo totale a budget", amount(r.total_budget_minor)],
        ["Costo totale ammissibile sostenuto", amount(r.total_actual_minor)],
        ["Contributo concesso", amount(r.grant_minor)],
        ["Contributo spettante", amount(r.grant_due_minor)],
        ["Arrotondamento", r.grant_rounding],
        ["Anticipi e tranche ricevuti", amount(r.advances_minor)],
        ["Ancora da ricevere", amount(r.still_due_minor)],
        [
            "Da restituire" if r.kind == "final" else "Anticipi non ancora giustificati",
            amount(r.to_give_back_minor),
        ],
        ["Quota di cofinanziamento (effettiva)", r.cofinancing_share],
        ["Quota di cofinanziamento (a budget)", r.cofinancing_share_budget],
        [],
        [
            "Documento",
            "Tipo",
            "Numero",
            "Data",
            "Fornitore",
            "Imponibile",
            "IVA",
            "Ammissibile",
            "Imputato",
            "Imputato al finanziatore",
            "Pagamento",
            "Quietanza",
            "SHA-256",
        ],
    ]
    for d in r.documents:
        rows.append(
            [
                d.id,
                d.kind,
                d.number,
                d.issued_on,
                d.supplier,
                amount(d.net_minor),
                amount(d.vat_minor),
                amount(d.eligible_minor),
                amount(d.charged_minor),
                amount(d.charged_to_funder_minor),
                PAID_BY_WORDS[d.paid_by],
                d.proof,
                d.sha256,
            ]
        )
    f = r.figurative
    rows += [
        [],
        ["Costi e proventi figurativi", "Budget", "Effettivo", "Conteggiati"],
        [
            f"Volontariato ({Decimal(f.volunteer_minutes) / 60} ore)",
            amount(f.volunteer_budget_minor),
            amount(f.volunteer_minor),
            "sì" if f.volunteer_counted else "no",
        ],
        [
            "Apporti in natura",
            amount(f.in_kind_budget_minor),
            amount(f.in_kind_minor),
            "sì" if f.in_kind_counted else "no",
        ],
        [],
        ["Ultima registrazione", r.head_sequence],
        ["Impronta della catena", r.head_hash],
    ]
    return rows


def report_csv(r: FunderReport) -> str:
    out = io.StringIO()
    writer = csv_writer(out)
    for row in _rows(r, lambda minor: amount_cell(minor, r.currency)):
        writer.writerow(row)
    return out.getvalue()


def report_xlsx(r: FunderReport) -> bytes:
    """The report as one XLSX sheet; amounts are numbers, texts never formulas."""
    from openpyxl import Workbook

    scale = Decimal(10) ** exponent(r.currency)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Rendiconto"
    for row in _rows(r, lambda minor: Decimal(minor) / scale):
        cells: list[Any] = []
        for value in row:
            if isinstance(value, str):
                cells.append(escape_text(value))
            else:
                cells.append(value)
        sheet.append(cells)
    for row_cells in sheet.iter_rows():
        for cell in row_cells:
            if isinstance(cell.value, Decimal):
                cell.number_format = "#,##0.00"
            if isinstance(cell.value, str):
                cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
