"""Amounts in Italian words, the way cheques and receipts write them.

Rule: the whole major units are written as one word, the minor units follow as
digits after a slash, padded to the currency's scale: 1234,56 EUR is
"milleduecentotrentaquattro/56", 1,00 EUR is "uno/00". A currency without
minor units (JPY) gets the words alone. Amounts are non-negative integer minor
units; a negative amount has no written form on a receipt and is refused, and
so is anything from mille miliardi (10^12 major units) upwards.

Spelling follows the usage dictionaries (Hoepli, "Si dice o non si dice?"):

- the tens drop their final vowel before "uno" and "otto": ventuno, ventotto,
  trentuno, novantotto;
- the hundreds keep theirs before a unit or a teen (centouno, centootto,
  trecentoundici) but drop it before "ottanta" (centottanta, duecentottantotto);
- "mille" never elides (milleuno, milleotto, milleottanta); the thousands
  above one are "-mila" (duemila), a million is "unmilione", a milliard
  "unmiliardo", their plurals "-milioni", "-miliardi";
- a compound ending in "uno" shortens it to "un" before mila, milioni and
  miliardi (ventunmila, centounmila, trentunmilioni);
- "tre" ending a compound number is accented (ventitré, centotré, milletré,
  unmilionetré); "tre" alone, and "tre" inside a longer word (tremila,
  ventitremila), is not.
"""

from __future__ import annotations

from typing import Final

from ledger.core.errors import InvalidAmountError
from ledger.core.money import MAX_MINOR, exponent

# fmt: off
_UNITS: Final = (
    "", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove",
    "dieci", "undici", "dodici", "tredici", "quattordici", "quindici", "sedici",
    "diciassette", "diciotto", "diciannove",
)
_TENS: Final = (
    "", "", "venti", "trenta", "quaranta", "cinquanta", "sessanta", "settanta",
    "ottanta", "novanta",
)
# fmt: on

# The largest whole amount written: novecentonovantanovemiliardi... (10^12 - 1).
MAX_MAJOR_IN_WORDS: Final = 10**12 - 1


def _below_hundred(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    tens, unit = divmod(n, 10)
    word = _TENS[tens]
    if unit in (1, 8):  # ventuno, ventotto: the tens elide before a vowel
        word = word[:-1]
    return word + _UNITS[unit]


def _below_thousand(n: int) -> str:
    """Words for 0..999 ("" for 0), without the final accent on tre."""
    hundreds, rest = divmod(n, 100)
    head = "" if hundreds == 0 else ("cento" if hundreds == 1 else _UNITS[hundreds] + "cento")
    tail = _below_hundred(rest)
    if head and 80 <= rest <= 89:  # centottanta, but centouno and centootto
        head = head[:-1]
    return head + tail


def _multiplier(n: int) -> str:
    """Words for 2..999 counting thousands, millions or milliards: ventun, not ventuno."""
    word = _below_thousand(n)
    return word[:-1] if word.endswith("uno") else word


def _group(n: int, one: str, many: str) -> str:
    if n == 0:
        return ""
    if n == 1:
        return one
    return _multiplier(n) + many


def integer_in_words(n: int) -> str:
    """Write a non-negative integer below 10^12 as one Italian word ("milletré")."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidAmountError(f"only integers are written in words, not {type(n).__name__}")
    if n < 0:
        raise InvalidAmountError("negative amounts are not written in words")
    if n > MAX_MAJOR_IN_WORDS:
        raise InvalidAmountError("amount too large to write in words")
    if n == 0:
        return "zero"
    milliards, rest = divmod(n, 10**9)
    millions, rest = divmod(rest, 10**6)
    thousands, rest = divmod(rest, 10**3)
    words = (
        _group(milliards, "unmiliardo", "miliardi")
        + _group(millions, "unmilione", "milioni")
        + _group(thousands, "mille", "mila")
        + _below_thousand(rest)
    )
    if words.endswith("tre") and words != "tre":
        words = words[:-3] + "tré"
    return words


def importo_in_lettere(minor: int, currency: str = "EUR") -> str:
    """Write `minor` units of `currency` as a cheque does: words, slash, minor digits.

    123456 EUR -> "milleduecentotrentaquattro/56"; 100 EUR -> "uno/00";
    5 EUR -> "zero/05". Refuses floats, bools, negative amounts, amounts from
    10^12 major units up, and unknown currencies (UnknownCurrencyError).
    """
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise InvalidAmountError(f"amounts are integer minor units, not {type(minor).__name__}")
    if minor > MAX_MINOR:
        raise InvalidAmountError("amount out of range")
    places = exponent(currency)
    if minor < 0:
        raise InvalidAmountError("negative amounts are not written in words")
    major, fraction = divmod(minor, 10**places)
    words = integer_in_words(major)
    return f"{words}/{fraction:0{places}d}" if places else words
