"""Money: integer minor units plus an ISO 4217 currency.

Rule: an amount is an exact count of the currency's minor unit (cents for EUR).
Floats are refused everywhere; decimal strings are parsed strictly, so "12.345"
EUR is an error rather than a rounding. Decimal appears only for rates, and the
only way from a Decimal back to Money names its rounding mode. Splits use the
largest-remainder method so the parts always add up to the whole. Sign is the
caller's: in the journal a positive amount is a debit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Final

from ledger.core.errors import CurrencyMismatchError, InvalidAmountError, UnknownCurrencyError

# ISO 4217 minor-unit exponents for the currencies a community fund may meet.
# fmt: off
CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2,
    "CZK": 2, "HUF": 2, "RON": 2, "BGN": 2, "ALL": 2, "RSD": 2, "MKD": 2, "BAM": 2,
    "UAH": 2, "MAD": 2, "EGP": 2, "NGN": 2, "GHS": 2, "KES": 2, "XOF": 0, "XAF": 0,
    "INR": 2, "PKR": 2, "BDT": 2, "CNY": 2, "PHP": 2, "BRL": 2, "ARS": 2, "MXN": 2,
    "CAD": 2, "AUD": 2, "TRY": 2, "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0,
    "TND": 3, "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "LYD": 3, "IQD": 3,
}
# fmt: on

# Stored as BIGINT: refuse anything PostgreSQL could not hold.
MAX_MINOR: Final = 2**63 - 1
# Digits of MAX_MINOR: a longer whole part is out of range before it is read (Python
# refuses to read more than 4,300 digits, and reading is quadratic below that).
_MAX_DIGITS: Final = len(str(MAX_MINOR))

# ASCII only: \d would otherwise accept Arabic-Indic or full-width digits.
_DECIMAL_STRING = re.compile(r"^(-)?(\d+)(?:\.(\d+))?$", re.ASCII)


def exponent(currency: str) -> int:
    """Return the number of minor-unit digits of `currency` (2 for EUR)."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrencyError(f"unknown currency {currency!r}") from None


def _check_minor(minor: object) -> int:
    # bool is an int subclass; True euros is a bug, not an amount.
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise InvalidAmountError(f"amounts are integer minor units, not {type(minor).__name__}")
    if abs(minor) > MAX_MINOR:
        raise InvalidAmountError("amount out of range")
    return minor


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: `minor` units of `currency`."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        _check_minor(self.minor)
        exponent(self.currency)

    # -- construction ------------------------------------------------------
    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a decimal string ("12.50", "-3", "0.07"), refusing excess precision."""
        if not isinstance(text, str):
            raise InvalidAmountError(f"amounts are decimal strings, not {type(text).__name__}")
        match = _DECIMAL_STRING.match(text.strip())
        if match is None:
            raise InvalidAmountError(f"not a decimal amount: {text!r}")
        sign, whole, frac = match.groups()
        places = exponent(currency)
        whole = whole.lstrip("0") or "0"
        if len(whole) > _MAX_DIGITS:
            raise InvalidAmountError("amount out of range")
        frac = frac or ""
        if len(frac) > places:
            raise InvalidAmountError(
                f"{text!r} has more decimals than {currency} allows ({places})"
            )
        minor = int(whole) * 10**places + int(frac.ljust(places, "0") or "0")
        return cls(-minor if sign else minor, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, value: Decimal, currency: str, *, rounding: str) -> Money:
        """Convert a Decimal in major units, rounding with the named `decimal` mode."""
        if not isinstance(value, Decimal):
            raise InvalidAmountError("from_decimal takes a Decimal")
        try:
            quantum = Decimal(1).scaleb(-exponent(currency))
            minor = int(value.quantize(quantum, rounding=rounding).scaleb(exponent(currency)))
        except InvalidOperation as exc:
            raise InvalidAmountError(f"cannot convert {value!r}") from exc
        return cls(minor, currency)

    # -- presentation ------------------------------------------------------
    def to_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-exponent(self.currency))

    def amount_string(self) -> str:
        """The amount as a plain decimal string with the currency's scale ("-12.50")."""
        return format_minor(self.minor, self.currency)

    def __str__(self) -> str:
        return f"{self.amount_string()} {self.currency}"

    # -- arithmetic --------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("Money only combines with Money")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"{self.currency} and {other.currency} do not mix")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def is_zero(self) -> bool:
        return self.minor == 0

    def times(self, rate: Decimal, *, rounding: str = ROUND_FLOOR) -> Money:
        """Multiply by a Decimal rate, rounding to a whole minor unit with `rounding`."""
        if not isinstance(rate, Decimal):
            raise InvalidAmountError("rates are Decimal")
        product = (Decimal(self.minor) * rate).quantize(Decimal(1), rounding=rounding)
        return Money(int(product), self.currency)

    def allocate(self, weights: list[int]) -> list[Money]:
        """Split into parts proportional to integer `weights`, summing exactly to self.

        Largest remainder: each part gets the floor of its exact share, then the
        leftover units go one each to the largest remainders, ties to the earliest.
        """
        return [Money(m, self.currency) for m in allocate_minor(self.minor, weights)]


def allocate_minor(total: int, weights: list[int]) -> list[int]:
    """Largest-remainder split of integer `total` by non-negative integer `weights`."""
    if not weights:
        raise InvalidAmountError("allocation needs at least one weight")
    for w in weights:
        _check_minor(w)
        if w < 0:
            raise InvalidAmountError("allocation weights are not negative")
    wsum = sum(weights)
    if wsum == 0:
        raise InvalidAmountError("allocation weights sum to zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    floors = [magnitude * w // wsum for w in weights]
    remainders = [magnitude * w % wsum for w in weights]
    leftover = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return [sign * f for f in floors]


def format_minor(minor: int, currency: str) -> str:
    """Render integer minor units as a plain decimal string ("1234.50")."""
    places = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}" if places else f"{sign}{whole}"


def format_it(minor: int, currency: str) -> str:
    """Italian rendering: thousands with '.', decimals with ',' ("1.234,56 EUR")."""
    places = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**places)
    grouped = f"{whole:,}".replace(",", ".")
    body = f"{grouped},{frac:0{places}d}" if places else grouped
    return f"{sign}{body} {currency}"
