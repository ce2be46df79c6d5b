"""ISO 20022 camt.053 (statement) and camt.054 (debit/credit notification) readers.

Versions 001.02 to 001.08 are read by the elements' local names, whatever the
namespace, and the message is found wherever it sits: plain under `Document`
or inside a CBI envelope (`CBIBdyBkToCstmrStmtReq` -> ... ). External XML is
parsed with defusedxml (no entities, no DTD, no network).

What is read, per statement (`Stmt`, or `Ntfctn` for camt.054):
- the account's IBAN and currency; booked balances OPBD (PRCD as the opening
  when there is no OPBD) and CLBD; OPAV/CLAV kept apart as the available
  balances; a `CdtLine` (a credit line, not money) is never read;
- every entry (`Ntry`) whose status is booked: `BOOK` (or no status) in a
  statement; in a notification also `INFO`, how the FFFS sample notifies a
  reversed direct debit. `PDNG` (pending) entries are not money yet and are left
  out everywhere;
- for each entry its signed amount (`CRDT` in, `DBIT` out), booking and value
  dates, the bank's id (`AcctSvcrRef`, else `NtryRef`), the bank transaction
  code, `RvslInd`, the batch's `NbOfTxs`, and every `TxDtls` as a `Detail` with
  its own amount and sign (`Amt` or `AmtDtls/TxAmt/Amt`; a single `TxDtls`
  without an amount describes the whole entry). When some of several `TxDtls`
  carry no amount the breakdown is incomplete and no details are handed over.
- a single `TxDtls` also gives the line its end-to-end id (`NOTPROVIDED` is no
  id), structured creditor reference (`CdtrRefInf/Ref`, spaces removed),
  counterparty (the debtor of money in, the creditor of money out) and return
  reason (`RtrInf/Rsn/Cd`). The line's text is `AddtlNtryInf` followed by the
  unstructured remittance (`Ustrd`) and `AddtlTxInf` of its details.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as StdET
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as safe_fromstring

from ledger.core.errors import UnknownCurrencyError
from ledger.core.money import exponent
from ledger.reconcile.parsed import Detail, ParsedLine, ParsedStatement, StatementFormatError

STATEMENT_ROOT = "BkToCstmrStmt"
NOTIFICATION_ROOT = "BkToCstmrDbtCdtNtfctn"

_AMOUNT = re.compile(r"^\d+(?:\.\d+)?$", re.ASCII)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: Element, name: str) -> Iterator[Element]:
    for child in element:
        if _local(child.tag) == name:
            yield child


def _child(element: Element | None, *path: str) -> Element | None:
    for name in path:
        if element is None:
            return None
        element = next(_children(element, name), None)
    return element


def _text(element: Element | None, *path: str) -> str | None:
    found = _child(element, *path)
    if found is None or found.text is None:
        return None
    value = " ".join(found.text.split())
    return value or None


def _date(element: Element | None, at: str) -> date | None:
    """A `Dt` or `DtTm` child's day."""
    value = _text(element, "Dt") or _text(element, "DtTm")
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise StatementFormatError(f"{at}: {value!r} is not a date", at=at) from None


def _minor(amount: Element | None, currency: str, at: str) -> int:
    """An `Amt` element as integer minor units of `currency` (which it must be in)."""
    if amount is None or amount.text is None:
        raise StatementFormatError(f"{at}: the amount is missing", at=at)
    value = amount.text.strip()
    ccy = amount.get("Ccy")
    if ccy is not None and ccy != currency:
        raise StatementFormatError(
            f"{at}: the amount is in {ccy}, the account in {currency}", at=at
        )
    if not _AMOUNT.match(value):
        raise StatementFormatError(f"{at}: {value!r} is not an amount", at=at)
    try:
        scaled = Decimal(value).scaleb(exponent(currency))
    except (InvalidOperation, UnknownCurrencyError):
        raise StatementFormatError(f"{at}: {value!r} {currency} is not an amount", at=at) from None
    if scaled != scaled.to_integral_value():
        raise StatementFormatError(
            f"{at}: {value!r} has more decimals than {currency} allows", at=at
        )
    return int(scaled)


def _signed(minor: int, indicator: str | None, at: str) -> int:
    if indicator == "CRDT":
        return minor
    if indicator == "DBIT":
        return -minor
    raise StatementFormatError(f"{at}: credit/debit indicator {indicator!r}", at=at)


def _tx_amount(tx: Element) -> Element | None:
    """A TxDtls's own amount in the account's currency (never the instructed amount)."""
    own = _child(tx, "Amt")
    return own if own is not None else _child(tx, "AmtDtls", "TxAmt", "Amt")


def _party_name(parties: Element | None, role: str) -> str | None:
    # camt.053.001.02-.07: Dbtr/Nm; .08: Dbtr/Pty/Nm
    return _text(parties, role, "Nm") or _text(parties, role, "Pty", "Nm")


def _iban(element: Element | None, *path: str) -> str | None:
    value = _text(element, *path)
    return value.replace(" ", "").upper() if value else None


def _reference(tx: Element) -> str | None:
    remittance = _child(tx, "RmtInf")
    if remittance is None:
        return None
    for strd in _children(remittance, "Strd"):
        ref = _text(strd, "CdtrRefInf", "Ref")
        if ref:
            return "".join(ref.split())
    return None


def _detail(tx: Element, entry_minor: int, currency: str, single: bool, at: str) -> Detail | None:
    amount = _tx_amount(tx)
    if amount is None:
        if not single:
            return None
        signed = entry_minor
    else:
        indicator = _text(tx, "CdtDbtInd")
        minor = _minor(amount, currency, at)
        signed = (
            _signed(minor, indicator, at) if indicator else (minor if entry_minor >= 0 else -minor)
        )
    parties = _child(tx, "RltdPties")
    if signed >= 0:  # money in: the other party is the debtor
        name = _party_name(parties, "Dbtr")
        iban = _iban(parties, "DbtrAcct", "Id", "IBAN")
    else:
        name = _party_name(parties, "Cdtr")
        iban = _iban(parties, "CdtrAcct", "Id", "IBAN")
    end_to_end = _text(tx, "Refs", "EndToEndId")
    if end_to_end is not None and end_to_end.upper() == "NOTPROVIDED":
        end_to_end = None
    reason = _text(tx, "RtrInf", "Rsn", "Cd") or _text(tx, "RtrInf", "Rsn", "Prtry")
    return Detail(
        amount_minor=signed,
        text=_tx_text(tx),
        end_to_end_id=end_to_end,
        reference=_reference(tx),
        counterparty_name=name,
        counterparty_iban=iban,
        reason_code=reason,
    )


def _tx_text(tx: Element) -> str:
    parts: list[str] = []
    rmt = _child(tx, "RmtInf")
    if rmt is not None:
        parts.extend(" ".join(u.text.split()) for u in _children(rmt, "Ustrd") if u.text)
    extra = _text(tx, "AddtlTxInf")
    if extra:
        parts.append(extra)
    return " ".join(p for p in parts if p)


def _bank_code(entry: Element) -> str | None:
    code = _child(entry, "BkTxCd")
    domain = _text(code, "Domn", "Cd")
    if domain:
        family = _text(code, "Domn", "Fmly", "Cd")
        sub = _text(code, "Domn", "Fmly", "SubFmlyCd")
        return "/".join(p for p in (domain, family, sub) if p)
    proprietary = _text(code, "Prtry", "Cd")
    if proprietary:
        issuer = _text(code, "Prtry", "Issr")
        return f"{issuer}:{proprietary}" if issuer else proprietary
    return None


def _status(entry: Element) -> str | None:
    return _text(entry, "Sts", "Cd") or _text(entry, "Sts")


def _line(entry: Element, currency: str, at: str) -> ParsedLine:
    minor = _signed(_minor(_child(entry, "Amt"), currency, at), _text(entry, "CdtDbtInd"), at)
    booked_on = _date(_child(entry, "BookgDt"), at) or _date(_child(entry, "ValDt"), at)
    if booked_on is None:
        raise StatementFormatError(f"{at}: the entry has no booking date", at=at)
    txs = [tx for dtls in _children(entry, "NtryDtls") for tx in _children(dtls, "TxDtls")]
    found = [
        _detail(tx, minor, currency, len(txs) == 1, f"{at}/TxDtls[{i + 1}]")
        for i, tx in enumerate(txs)
    ]
    details = tuple(d for d in found if d is not None) if None not in found else ()
    batch = _text(entry, "NtryDtls", "Btch", "NbOfTxs")
    only = details[0] if len(details) == 1 else None
    texts = [_text(entry, "AddtlNtryInf") or ""]
    for d in (d for d in found if d is not None):
        if d.text and d.text not in texts:
            texts.append(d.text)
    reversal = (_text(entry, "RvslInd") or "").lower() == "true"
    reasons = {d.reason_code for d in details if d.reason_code}
    return ParsedLine(
        booked_on=booked_on,
        amount_minor=minor,
        text=" ".join(t for t in texts if t),
        raw=StdET.tostring(entry, encoding="unicode"),
        value_on=_date(_child(entry, "ValDt"), at),
        bank_ref=_text(entry, "AcctSvcrRef") or _text(entry, "NtryRef"),
        end_to_end_id=only.end_to_end_id if only else None,
        reference=only.reference if only else None,
        counterparty_name=only.counterparty_name if only else None,
        counterparty_iban=only.counterparty_iban if only else None,
        bank_code=_bank_code(entry),
        reason_code=next(iter(reasons)) if len(reasons) == 1 else None,
        reversal=reversal,
        batch_count=int(batch) if batch and batch.isdigit() else None,
        details=details,
    )


def _statement(element: Element, kind: str, index: int) -> ParsedStatement:
    at = f"{_local(element.tag)}[{index}]"
    account = _child(element, "Acct")
    iban = _iban(account, "Id", "IBAN")
    currency = _text(account, "Ccy")
    balances = list(_children(element, "Bal"))
    entries = list(_children(element, "Ntry"))
    if currency is None:
        for amount in [_child(b, "Amt") for b in balances] + [_child(e, "Amt") for e in entries]:
            if amount is not None and amount.get("Ccy"):
                currency = amount.get("Ccy")
                break
    if currency is None:
        raise StatementFormatError(f"{at}: the statement names no currency", at=at)
    found: dict[str, tuple[int, date | None]] = {}
    for i, bal in enumerate(balances):
        code = _text(bal, "Tp", "CdOrPrtry", "Cd") or _text(bal, "Tp", "CdOrPrtry", "Prtry")
        if code is None or code in found:
            continue
        bat = f"{at}/Bal[{i + 1}]"
        found[code] = (
            _signed(_minor(_child(bal, "Amt"), currency, bat), _text(bal, "CdtDbtInd"), bat),
            _date(_child(bal, "Dt"), bat),
        )
    opening = found.get("OPBD") or found.get("PRCD")
    closing = found.get("CLBD")
    accepted = ("BOOK", None) if kind == "camt053" else ("BOOK", "INFO", None)
    lines = tuple(
        _line(entry, currency, f"{at}/Ntry[{i + 1}]")
        for i, entry in enumerate(entries)
        if _status(entry) in accepted
    )
    return ParsedStatement(
        iban=iban,
        currency=currency,
        opening_minor=opening[0] if opening else None,
        closing_minor=closing[0] if closing else None,
        opening_on=opening[1] if opening else None,
        closing_on=closing[1] if closing else None,
        statement_id=_text(element, "Id"),
        lines=lines,
        available_opening_minor=found["OPAV"][0] if "OPAV" in found else None,
        available_closing_minor=found["CLAV"][0] if "CLAV" in found else None,
    )


def _message(data: bytes, root_name: str) -> Element:
    try:
        root: Element = safe_fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise StatementFormatError(f"not well-formed or unsafe XML: {exc}") from None
    for element in root.iter():
        if _local(element.tag) == root_name:
            return element
    raise StatementFormatError(f"no {root_name} element: not this kind of camt file")


def parse_camt053(data: bytes) -> list[ParsedStatement]:
    """Every statement (`Stmt`) of a camt.053 file, plain or in a CBI envelope."""
    message = _message(data, STATEMENT_ROOT)
    return [_statement(s, "camt053", i + 1) for i, s in enumerate(_children(message, "Stmt"))]


def parse_camt054(data: bytes) -> list[ParsedStatement]:
    """Every notification (`Ntfctn`) of a camt.054 file: entries, no balances usually."""
    message = _message(data, NOTIFICATION_ROOT)
    return [_statement(n, "camt054", i + 1) for i, n in enumerate(_children(message, "Ntfctn"))]
