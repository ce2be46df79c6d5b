"""The bank reconciliation as CSV (`ledger.reconcile.report.Reconciliation`, written).

One section after another, each a header row then its rows, in the one safe
CSV writer (`csv_cells`): texts from the bank (a line's text, a counterparty)
and from the journal (a narration) are escaped against formulas, amounts are
figures. Labels are Italian.
"""

from __future__ import annotations

import io

from ledger.reconcile.report import Reconciliation
from ledger.statements.csv_cells import amount_cell, csv_writer


def reconciliation_csv(r: Reconciliation) -> str:
    out = io.StringIO()
    w = csv_writer(out)
    cur = r.currency
    w.writerow(["Riconciliazione bancaria", r.iban, r.name])
    w.writerow(["Alla data", r.as_of])
    w.writerow(["Valuta", cur])
    w.writerow([])
    w.writerow(["Voce", "Importo"])
    w.writerow(["Saldo banca (estratti conto)", amount_cell(r.bank_balance_minor, cur)])
    w.writerow(["Saldo contabile", amount_cell(r.book_balance_minor, cur)])
    w.writerow(["Movimenti bancari non spiegati", amount_cell(r.unexplained_minor, cur)])
    w.writerow(["Movimenti bancari ignorati", amount_cell(r.ignored_minor, cur)])
    w.writerow(["Registrazioni non ancora in banca", amount_cell(r.not_on_bank_minor, cur)])
    w.writerow(["Differenza", amount_cell(r.difference_minor, cur)])
    w.writerow([])
    w.writerow(["Conto contabile", "Saldo"])
    for held in r.held:
        w.writerow([held.code, amount_cell(held.balance_minor, cur)])
    w.writerow([])
    w.writerow(["Movimento", "Data", "Importo", "Da spiegare", "Descrizione"])
    for line in r.unexplained_lines:
        w.writerow(
            [
                line.id,
                line.booked_on,
                amount_cell(line.amount_minor, cur),
                amount_cell(line.left_minor, cur),
                line.text,
            ]
        )
    w.writerow([])
    w.writerow(["Movimento ignorato", "Data", "Importo", "Descrizione", "Motivo"])
    for line in r.ignored_lines:
        w.writerow(
            [line.id, line.booked_on, amount_cell(line.left_minor, cur), line.text, line.reason]
        )
    w.writerow([])
    w.writerow(["Registrazione", "Data", "Tipo", "Importo", "Descrizione"])
    for entry in r.entries_not_on_bank:
        w.writerow(
            [
                entry.sequence,
                entry.effective_on,
                entry.kind,
                amount_cell(entry.amount_minor, cur),
                entry.narration,
            ]
        )
    return out.getvalue()
