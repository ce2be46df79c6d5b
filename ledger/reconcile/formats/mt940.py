"""MT940 statements (SWIFT customer statement message) into `ParsedStatement` records.

The fields of `:61:` and the balances are read by the `mt-940` library (its tag
patterns, the entry date's year, the C/D/RC/RD marks); the file is cut into tags here
first, so that every line keeps its source text (`raw` is the `:61:` and `:86:` lines
as found) and an error names the statement and the line. What is done here and not
by the library:

* SWIFT envelopes (`{1:…}{2:…}{3:}{4:` … `-}{5:}`, ASN Bank) are removed, one
  statement per `:20:` block. A `:61:` the standard pattern refuses is read again
  with the library's ASN Bank pattern (counterparty IBAN in the customer reference,
  the name on a second line).
* Each `:20:` block is one statement, a multi-page statement's page included: its
  opening is `:60F:` or the intermediate `:60M:`, its closing `:62F:` or `:62M:`.
* `statement_id` is `<:20:>/<:28C:>`. When `:25:` is an IBAN (by its shape:
  country, check digits, 11-30 letters or digits; the checksum is left to the
  importer, which compares it with the registered account) it is `iban`; otherwise
  `iban` is None and the account as written in `:25:` heads the id
  (`50880050/0194774600888 T089413946000001/00004/00001`), so statements of two
  accounts never share an id and the importer can show which account the file names.
* Signs: C and RD (reversal of a debit) are money in, D and RC (reversal of a
  credit) money out; RC and RD set `reversal`. Amounts are Decimal text turned
  into minor units exactly; a sub-unit amount is refused, never rounded.
* `:86:` in the German SEPA layout (`GV-code?00posting text?10…?20…?34…`): the
  GV code is `bank_code`, `?20`-`?29` and `?60`-`?63` are the purpose, whose
  SEPA keywords (EREF+, KREF+, MREF+, SVWZ+, …) are split where a segment starts
  with one; EREF is `end_to_end_id`, `?30`/`?31` the counterparty's BIC/IBAN,
  `?32`+`?33` its name, `?34` a return's reason code (the DK code as written,
  e.g. 914) and the reason text stays in `text`. "Datei mit N Zahlungen" (a
  transfer order from a file) gives `batch_count`.
* `:86:` in the Dutch structured layout (`/EREF/…/BENM//NAME/…/REMI/…`, Rabobank)
  is joined across lines with nothing in between (lines are cut mid-word) and split
  on its known keys; otherwise `:86:` is free text, lines joined with a space unless
  a line is a full 65 characters (then it was cut mid-word).
* `bank_ref` is the `:61:` bank reference (after `//`); `bank_code` the GV code or,
  without one, the `:61:` transaction type (NTRF, N102, …).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import mt940
from mt940.tags import StatementASNB

from ledger.core.errors import UnknownCurrencyError
from ledger.core.money import exponent
from ledger.reconcile.parsed import ParsedLine, ParsedStatement, StatementFormatError

_TAG = re.compile(r"^:(?P<tag>\d{2}[A-Z]?|NS):(?P<rest>.*)$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_SEPA_KEY = re.compile(r"^(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|COAM|OAMT|PURP|MTLG)[+:]")
_GERMAN_86 = re.compile(r"^(?P<gv>\d{3})\?\d{2}")
_BATCH = re.compile(r"Datei mit (\d+) Zahlung", re.IGNORECASE)
_NL_KEYS = frozenset(
    {
        "EREF", "PREF", "MARF", "CSID", "CNTP", "REMI", "PURP", "ULTC", "ULTD", "ULTB",
        "ORDP", "BENM", "ISDT", "RTRN", "ATOS", "NAME", "ADDR", "IBAN", "BIC", "ID",
        "TRCD", "SVCL", "EXCH", "CHGS", "FX", "CDTRREF", "CDTRREFTP", "CD", "ISSR",
    }
)  # fmt: skip
_LINE_WIDTH = 65

# The library logs every pattern it fails to match; a refused line is reported here.
logging.getLogger("mt940").setLevel(logging.CRITICAL)


@dataclass(slots=True)
class _Tag:
    tag: str
    lines: list[str]
    line_no: int

    @property
    def value(self) -> str:
        return "\n".join(self.lines)

    @property
    def raw(self) -> str:
        return f":{self.tag}:" + self.value


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _blocks(text: str) -> list[list[_Tag]]:
    """Cut the file into `:20:` blocks of tags, envelopes and separators removed."""
    blocks: list[list[_Tag]] = []
    current: list[_Tag] | None = None
    for number, source in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        line = source.rstrip()
        if line.startswith("{1:"):
            start = line.find("{4:")
            line = line[start + 3 :].strip() if start >= 0 else ""
        if line.startswith("-}") or line.strip() == "-" or not line.strip():
            continue
        match = _TAG.match(line)
        if match and match["tag"] == "20":
            current = []
            blocks.append(current)
        if current is None:
            continue  # a header before the first statement (Rabobank's ":940:")
        if match:
            current.append(_Tag(match["tag"], [match["rest"]], number))
        elif current:
            current[-1].lines.append(line)
    return blocks


def _minor(amount: Decimal, currency: str, where: str) -> int:
    try:
        digits = exponent(currency)
    except UnknownCurrencyError:
        raise StatementFormatError(f"{where}: unknown currency {currency!r}") from None
    scaled = amount.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise StatementFormatError(f"{where}: amount {amount} has more decimals than {currency}")
    return int(scaled)


def _parse_block(block_text: str) -> Any:
    """Parse one `:20:` block with the standard `:61:` pattern, else ASN Bank's."""
    no_details: dict[str, list[Any]] = {"post_transaction_details": []}
    options = mt940.Options(reversal_sign=True)
    try:
        return mt940.parse(block_text, processors=no_details, options=options)
    except (RuntimeError, ValueError, InvalidOperation):
        pass
    return mt940.parse(
        block_text,
        processors=no_details,
        tags={61: StatementASNB()},
        options=options,
    )


def _joined_86(value: str, structured: bool) -> str:
    lines = [line for line in value.split("\n") if line.strip()]
    if structured:
        return "".join(lines)
    out = ""
    for i, line in enumerate(lines):
        out += line
        if i < len(lines) - 1 and len(line) < _LINE_WIDTH:
            out += " "
    return out.strip()


def _german_86(details: str) -> dict[str, Any]:
    """The German SEPA `?xx` layout of `:86:` into ParsedLine fields."""
    gv = details[:3]
    segments: list[tuple[str, str]] = []
    for part in details[3:].split("?")[1:]:
        if len(part) >= 2 and part[:2].isdigit():
            segments.append((part[:2], part[2:]))
        elif segments:  # a literal "?" inside a segment
            key, text = segments[-1]
            segments[-1] = (key, text + "?" + part)
    fields: dict[str, str] = {}
    purpose_parts: list[str] = []
    for key, text in segments:
        number = int(key)
        if 20 <= number <= 29 or 60 <= number <= 63:
            purpose_parts.append(text)
        else:
            fields[key] = fields.get(key, "") + text
    # SEPA keywords: a segment starting with one opens it; it runs to the next.
    keyed: dict[str, str] = {}
    runs: list[str] = []  # the purpose, a space between keyword runs
    current: str | None = None
    for part in purpose_parts:
        match = _SEPA_KEY.match(part)
        if match:
            current = match[1]
            keyed[current] = keyed.get(current, "") + part[match.end() :]
            runs.append(part)
        elif runs:
            if current is not None:
                keyed[current] += part
            runs[-1] += part
        else:
            runs.append(part)
    purpose = " ".join(runs)
    posting = fields.get("00", "")
    iban = fields.get("31", "").replace(" ", "").upper()
    name = (fields.get("32", "") + fields.get("33", "")).strip()
    batch = _BATCH.search(purpose)
    eref = keyed.get("EREF", "").strip()
    return {
        "text": " ".join(part for part in (posting, purpose) if part),
        "bank_code": gv,
        "end_to_end_id": eref if eref and eref.upper() != "NOTPROVIDED" else None,
        "counterparty_iban": iban if _IBAN.match(iban) else None,
        "counterparty_name": name or None,
        "reason_code": fields.get("34") or None,
        "batch_count": int(batch[1]) if batch else None,
    }


def _dutch_86(details: str) -> dict[str, Any]:
    """The Dutch structured `/KEY/value/` layout (Rabobank, ING) into fields."""
    values: dict[str, str] = {}
    current: str | None = None
    for token in details.split("/")[1:]:
        if token in _NL_KEYS:
            current = token
            values.setdefault(current, "")
        elif current is not None and token:
            values[current] = f"{values[current]}/{token}" if values[current] else token
    eref = values.get("EREF", "").strip()
    iban = values.get("IBAN", "").replace(" ", "").upper()
    remi = values.get("REMI", "").strip()
    return {
        "text": remi or details,
        "end_to_end_id": eref if eref and eref.upper() != "NOTPROVIDED" else None,
        "counterparty_iban": iban if _IBAN.match(iban) else None,
        "counterparty_name": values.get("NAME", "").strip() or None,
    }


def _line(
    tags: list[_Tag], index: int, data: dict[str, Any], currency: str, where: str
) -> ParsedLine:
    tag61 = tags[index]
    tag86 = tags[index + 1] if index + 1 < len(tags) and tags[index + 1].tag == "86" else None
    raw = tag61.raw + ("\n" + tag86.raw if tag86 else "")
    status = str(data.get("status") or "").upper()
    if status not in {"C", "D", "RC", "RD"}:
        raise StatementFormatError(f"{where}: debit/credit mark {status!r} is not C, D, RC or RD")
    magnitude = abs(data["amount"].amount)
    minor = _minor(magnitude, currency, where)
    negative = status in {"D", "RC"}
    value_on: date = data["date"]
    booked_on: date = data.get("entry_date") or value_on
    fields: dict[str, Any] = {"text": "", "bank_code": data.get("id") or None}
    if tag86 is not None:
        german = _GERMAN_86.match(_joined_86(tag86.value, structured=True))
        if german:
            fields.update(_german_86(_joined_86(tag86.value, structured=True)))
        elif tag86.value.startswith("/"):
            fields.update(_dutch_86(_joined_86(tag86.value, structured=True)))
        else:
            fields["text"] = _joined_86(tag86.value, structured=False)
    customer_ref = str(data.get("customer_reference") or "").strip()
    extra = str(data.get("extra_details") or "").strip()
    if fields.get("counterparty_iban") is None:
        for candidate in (customer_ref, extra):
            if _IBAN.match(candidate.replace(" ", "").upper()):
                fields["counterparty_iban"] = candidate.replace(" ", "").upper()
                if candidate is customer_ref and extra and not fields.get("counterparty_name"):
                    fields["counterparty_name"] = extra  # ASN Bank: the name on line two
                break
    return ParsedLine(
        booked_on=date(booked_on.year, booked_on.month, booked_on.day),
        amount_minor=-minor if negative else minor,
        text=fields.pop("text"),
        raw=raw,
        value_on=date(value_on.year, value_on.month, value_on.day),
        bank_ref=(str(data.get("bank_reference") or "").strip() or None),
        reversal=status.startswith("R"),
        **fields,
    )


def _balance(
    data: dict[str, Any], names: tuple[str, ...], where: str
) -> tuple[int, date, str] | None:
    for name in names:
        balance = data.get(name)
        if balance is not None and balance.amount is not None:
            currency = str(balance.amount.currency or "")
            minor = _minor(balance.amount.amount, currency, where)
            on = balance.date
            return minor, date(on.year, on.month, on.day), currency
    return None


def _statement(number: int, tags: list[_Tag]) -> ParsedStatement:
    ref = tags[0].value.strip()
    where = f"statement {number} (:20: {ref})"
    present = {tag.tag for tag in tags}
    if "25" not in present:
        raise StatementFormatError(f"{where}: no account identification :25:")
    if not present & {"60F", "60M"}:
        raise StatementFormatError(f"{where}: no opening balance :60F:/:60M:")
    if not present & {"62F", "62M"}:
        raise StatementFormatError(f"{where}: no closing balance :62F:/:62M:")
    text = "\n".join(tag.raw for tag in tags)
    try:
        parsed = _parse_block(text)
    except (RuntimeError, ValueError, InvalidOperation, KeyError) as error:
        bad = _first_bad_line(tags)
        detail = f"line {bad.line_no}: {bad.raw!r} is not a valid :{bad.tag}:" if bad else error
        raise StatementFormatError(f"{where}: {detail}") from None
    data: dict[str, Any] = parsed.data
    opening = _balance(data, ("final_opening_balance", "intermediate_opening_balance"), where)
    closing = _balance(data, ("final_closing_balance", "intermediate_closing_balance"), where)
    if opening is None or closing is None:
        raise StatementFormatError(f"{where}: a balance could not be read")
    currency = opening[2]
    if closing[2] != currency:
        raise StatementFormatError(f"{where}: opening in {currency} but closing in {closing[2]}")
    indexes = [i for i, tag in enumerate(tags) if tag.tag == "61"]
    if len(indexes) != len(parsed.transactions):
        raise StatementFormatError(
            f"{where}: {len(indexes)} :61: lines but {len(parsed.transactions)} read"
        )
    lines = tuple(
        _line(tags, i, t.data, currency, f"{where}, line {tags[i].line_no}")
        for i, t in zip(indexes, parsed.transactions, strict=True)
    )
    account = next(tag.value for tag in tags if tag.tag == "25").strip()
    sequence = next((tag.value.strip() for tag in tags if tag.tag == "28C"), "")
    statement_id = f"{ref}/{sequence}" if sequence else ref
    iban_text = account.replace(" ", "").upper()
    iban = iban_text if _IBAN.match(iban_text) else None
    return ParsedStatement(
        iban=iban,
        currency=currency,
        opening_minor=opening[0],
        closing_minor=closing[0],
        opening_on=opening[1],
        closing_on=closing[1],
        statement_id=statement_id if iban else f"{account} {statement_id}",
        lines=lines,
        account_ref=None if iban else account,
    )


def _first_bad_line(tags: list[_Tag]) -> _Tag | None:
    """The first tag neither :61: pattern nor a balance pattern accepts (for the error)."""
    empty = mt940.models.Transactions()
    checks = {
        "61": (mt940.tags.Statement(), StatementASNB()),
        "60F": (mt940.tags.FinalOpeningBalance(),),
        "60M": (mt940.tags.IntermediateOpeningBalance(),),
        "62F": (mt940.tags.FinalClosingBalance(),),
        "62M": (mt940.tags.IntermediateClosingBalance(),),
    }
    for tag in tags:
        patterns = checks.get(tag.tag)
        if not patterns:
            continue
        ok = False
        for pattern in patterns:
            try:
                pattern.parse(empty, tag.value.strip())
                ok = True
                break
            except RuntimeError:
                continue
        if not ok:
            return tag
    return None


def parse_mt940(data: bytes) -> list[ParsedStatement]:
    """Read an MT940 file: one ParsedStatement per `:20:` block, in file order."""
    blocks = _blocks(_decode(data))
    if not blocks:
        raise StatementFormatError("not an MT940 file: no statement (:20:) found")
    return [_statement(number, block) for number, block in enumerate(blocks, 1)]
