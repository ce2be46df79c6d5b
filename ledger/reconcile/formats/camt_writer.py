"""Write statements as an ISO 20022 camt.053.001.02 file (the demo's month, tests).

The inverse of `camt.parse_camt053` for what it reads: each `ParsedStatement`
becomes a `Stmt` with its IBAN, currency, booked opening (OPBD) and closing
(CLBD) balances, and each `ParsedLine` one booked `Ntry` with a single
`TxDtls`: the end-to-end id, the counterparty (debtor of money in, creditor of
money out), the unstructured text (`Ustrd`), the structured creditor reference
(`Strd/CdtrRefInf`, type SCOR) and a return's reason (`RtrInf/Rsn/Cd`). The
line's `raw` is not written (the reader makes it from the element). Output is
deterministic: the same statements give the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date

from ledger.core.money import format_minor
from ledger.reconcile.parsed import ParsedLine, ParsedStatement

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _amount(parent: ET.Element, minor: int, currency: str) -> None:
    _sub(parent, "Amt", format_minor(abs(minor), currency), Ccy=currency)
    _sub(parent, "CdtDbtInd", "CRDT" if minor >= 0 else "DBIT")


def _balance(parent: ET.Element, code: str, minor: int, currency: str, on: date) -> None:
    bal = _sub(parent, "Bal")
    _sub(_sub(_sub(bal, "Tp"), "CdOrPrtry"), "Cd", code)
    _amount(bal, minor, currency)
    _sub(_sub(bal, "Dt"), "Dt", on.isoformat())


def _entry(parent: ET.Element, line: ParsedLine, currency: str) -> None:
    ntry = _sub(parent, "Ntry")
    _amount(ntry, line.amount_minor, currency)
    if line.reversal:
        _sub(ntry, "RvslInd", "true")
    _sub(ntry, "Sts", "BOOK")
    _sub(_sub(ntry, "BookgDt"), "Dt", line.booked_on.isoformat())
    _sub(_sub(ntry, "ValDt"), "Dt", (line.value_on or line.booked_on).isoformat())
    if line.bank_ref:
        _sub(ntry, "AcctSvcrRef", line.bank_ref)
    if line.bank_code:
        domain, _, rest = line.bank_code.partition("/")
        family, _, sub = rest.partition("/")
        domn = _sub(_sub(ntry, "BkTxCd"), "Domn")
        _sub(domn, "Cd", domain)
        fmly = _sub(domn, "Fmly")
        _sub(fmly, "Cd", family)
        _sub(fmly, "SubFmlyCd", sub)
    tx = _sub(_sub(ntry, "NtryDtls"), "TxDtls")
    _sub(_sub(tx, "Refs"), "EndToEndId", line.end_to_end_id or "NOTPROVIDED")
    if line.counterparty_name or line.counterparty_iban:
        role = "Dbtr" if line.amount_minor >= 0 else "Cdtr"
        parties = _sub(tx, "RltdPties")
        if line.counterparty_name:
            _sub(_sub(parties, role), "Nm", line.counterparty_name)
        if line.counterparty_iban:
            _sub(_sub(_sub(parties, role + "Acct"), "Id"), "IBAN", line.counterparty_iban)
    if line.text or line.reference:
        rmt = _sub(tx, "RmtInf")
        if line.text:
            _sub(rmt, "Ustrd", line.text)
        if line.reference:
            ref = _sub(_sub(rmt, "Strd"), "CdtrRefInf")
            _sub(_sub(_sub(ref, "Tp"), "CdOrPrtry"), "Cd", "SCOR")
            _sub(ref, "Ref", line.reference)
    if line.reason_code:
        _sub(_sub(_sub(tx, "RtrInf"), "Rsn"), "Cd", line.reason_code)


def write_camt053(statements: Sequence[ParsedStatement], *, message_id: str) -> bytes:
    """The camt.053.001.02 file of these statements (each with IBAN, currency, both
    booked balances and their dates)."""
    ET.register_namespace("", NAMESPACE)
    root = ET.Element("Document", {"xmlns": NAMESPACE})
    message = _sub(root, "BkToCstmrStmt")
    header = _sub(message, "GrpHdr")
    _sub(header, "MsgId", message_id)
    last = max((s.closing_on for s in statements if s.closing_on), default=None)
    if last is not None:
        _sub(header, "CreDtTm", f"{last.isoformat()}T23:59:59")
    for n, statement in enumerate(statements, start=1):
        currency = statement.currency
        if (
            currency is None
            or statement.iban is None
            or statement.opening_minor is None
            or statement.closing_minor is None
            or statement.opening_on is None
            or statement.closing_on is None
        ):
            raise ValueError("a statement to write needs its IBAN, currency and balances")
        stmt = _sub(message, "Stmt")
        _sub(stmt, "Id", statement.statement_id or f"{message_id}-{n}")
        _sub(stmt, "CreDtTm", f"{statement.closing_on.isoformat()}T23:59:59")
        account = _sub(stmt, "Acct")
        _sub(_sub(account, "Id"), "IBAN", statement.iban)
        _sub(account, "Ccy", currency)
        _balance(stmt, "OPBD", statement.opening_minor, currency, statement.opening_on)
        _balance(stmt, "CLBD", statement.closing_minor, currency, statement.closing_on)
        for line in statement.lines:
            _entry(stmt, line, currency)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"
