"""What a gift's receipt states, as data: its number, its payment method, its texts.

`receipt_data` in `ledger.campaigns.queries` fills a `ReceiptData` from the
rows, and `ledger.statements.receipts` renders one as a PDF; the data and its
rules live here, below both, so campaigns never import the statements that
read them. `ReceiptData` is validated on construction. Its texts may be in any
script: the receipt prints them as written (`ledger.statements.pdf_fonts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal, get_args

from ledger.campaigns.errors import InvalidReceiptError
from ledger.core.errors import InvalidAmountError
from ledger.core.money import MAX_MINOR, exponent

PaymentMethod = Literal["card", "bank_transfer", "cash"]
PAYMENT_METHODS: Final[frozenset[str]] = frozenset(get_args(PaymentMethod))
RECEIPT_NUMBER_DIGITS: Final = 6


# --------------------------------------------------------------------------- numbers and rules


def format_receipt_number(year: int, n: int) -> str:
    """The printed number of the `n`-th receipt of `year`: (2026, 17) -> "2026/000017"."""
    for value in (year, n):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidReceiptError("receipt years and numbers are integers")
    if not 1000 <= year <= 9999:
        raise InvalidReceiptError(f"receipt year {year} is not a four-digit year")
    if not 1 <= n < 10**RECEIPT_NUMBER_DIGITS:
        raise InvalidReceiptError(
            f"receipt number {n} is outside 1..{10**RECEIPT_NUMBER_DIGITS - 1}"
        )
    return f"{year}/{n:0{RECEIPT_NUMBER_DIGITS}d}"


def _check_method(method: str) -> None:
    if method not in PAYMENT_METHODS:
        raise InvalidReceiptError(
            f"unknown payment method {method!r}; expected one of {sorted(PAYMENT_METHODS)}"
        )


def is_traceable(method: str) -> bool:
    """Whether a gift paid with `method` is traceable (art. 23 D.Lgs. 241/1997).

    Card and bank transfer are; cash is not. An unknown method is refused
    rather than guessed either way.
    """
    _check_method(method)
    return method != "cash"


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptData:
    """Everything printed on one receipt; validated on construction.

    `number` is printed as given (see `format_receipt_number`). `donor_name`
    None prints "Donatore anonimo / non identificato". Optional texts are None
    when absent, never blank. `voided_on` marks the receipt void (a refund),
    with an optional `void_reason`.
    """

    recipient_name: str
    recipient_tax_code: str
    recipient_qualification: str
    runts_number: str | None = None
    recipient_address: str | None = None
    number: str
    issued_on: date
    donor_name: str | None
    donor_codice_fiscale: str | None = None
    amount_minor: int
    currency: str = "EUR"
    donated_on: date
    method: PaymentMethod
    payment_reference: str | None = None
    campaign_title: str
    voided_on: date | None = None
    void_reason: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "recipient_name",
            "recipient_tax_code",
            "recipient_qualification",
            "number",
            "campaign_title",
        ):
            self._text(name, required=True)
        for name in (
            "runts_number",
            "donor_name",
            "donor_codice_fiscale",
            "payment_reference",
            "void_reason",
        ):
            self._text(name, required=False)
        self._text("recipient_address", required=False)

        amount = self.amount_minor
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidAmountError(
                f"amounts are integer minor units, not {type(amount).__name__}"
            )
        if not 0 < amount <= MAX_MINOR:
            raise InvalidAmountError("a receipt is for a positive amount")
        exponent(self.currency)
        _check_method(self.method)

        for name in ("issued_on", "donated_on", "voided_on"):
            value = getattr(self, name)
            if value is None and name == "voided_on":
                continue
            # A datetime is a date too; a receipt prints business dates, not instants.
            if not isinstance(value, date) or isinstance(value, datetime):
                raise InvalidReceiptError(f"{name} must be a date", field=name)
        if self.issued_on < self.donated_on:
            raise InvalidReceiptError("a receipt cannot be issued before the gift")
        if self.voided_on is None:
            if self.void_reason is not None:
                raise InvalidReceiptError("a void reason needs a void date")
        elif self.voided_on < self.issued_on:
            raise InvalidReceiptError("a receipt cannot be voided before it is issued")

    def _text(self, name: str, *, required: bool) -> None:
        value = getattr(self, name)
        if value is None and not required:
            return
        if not isinstance(value, str):
            raise InvalidReceiptError(f"{name} must be text", field=name)
        if not value.strip():
            hint = "" if required else " (pass None when absent)"
            raise InvalidReceiptError(f"{name} is blank{hint}", field=name)

    @property
    def is_void(self) -> bool:
        return self.voided_on is not None

    @property
    def traceable(self) -> bool:
        return is_traceable(self.method)
