"""Amounts in Italian words, as cheques and receipts write them: words/cents."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.errors import InvalidAmountError, UnknownCurrencyError
from ledger.statements.amount_words import (
    MAX_MAJOR_IN_WORDS,
    importo_in_lettere,
    integer_in_words,
)

# --------------------------------------------------------------------------- the brief's figures


@pytest.mark.parametrize(
    ("minor", "words"),
    [
        (123456, "milleduecentotrentaquattro/56"),
        (100, "uno/00"),
        (2100, "ventuno/00"),
        (10000000, "centomila/00"),
        (100000000, "unmilione/00"),
        (123456789, "unmilioneduecentotrentaquattromilacinquecentosessantasette/89"),
    ],
)
def test_the_worked_figures_of_the_brief_are_written_as_cheques_write_them(minor, words):
    assert importo_in_lettere(minor) == words


# --------------------------------------------------------------------------- cents


@pytest.mark.parametrize(
    ("minor", "words"),
    [
        (0, "zero/00"),
        (1, "zero/01"),
        (5, "zero/05"),
        (99, "zero/99"),
        (101, "uno/01"),
        (1050, "dieci/50"),
    ],
)
def test_the_cents_follow_the_slash_as_two_digits_and_no_euros_is_zero(minor, words):
    assert importo_in_lettere(minor) == words


def test_the_currency_defaults_to_euro():
    assert importo_in_lettere(4200) == importo_in_lettere(4200, "EUR") == "quarantadue/00"


# --------------------------------------------------------------------------- units, teens, tens


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "uno"),
        (2, "due"),
        (3, "tre"),
        (4, "quattro"),
        (7, "sette"),
        (9, "nove"),
        (10, "dieci"),
        (11, "undici"),
        (12, "dodici"),
        (13, "tredici"),
        (14, "quattordici"),
        (15, "quindici"),
        (16, "sedici"),
        (17, "diciassette"),
        (18, "diciotto"),
        (19, "diciannove"),
        (20, "venti"),
        (22, "ventidue"),
        (30, "trenta"),
        (40, "quaranta"),
        (50, "cinquanta"),
        (60, "sessanta"),
        (70, "settanta"),
        (80, "ottanta"),
        (90, "novanta"),
        (99, "novantanove"),
    ],
)
def test_units_teens_and_tens_are_spelled_out(n, words):
    assert integer_in_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (21, "ventuno"),
        (28, "ventotto"),
        (31, "trentuno"),
        (38, "trentotto"),
        (41, "quarantuno"),
        (48, "quarantotto"),
        (51, "cinquantuno"),
        (58, "cinquantotto"),
        (61, "sessantuno"),
        (68, "sessantotto"),
        (71, "settantuno"),
        (78, "settantotto"),
        (81, "ottantuno"),
        (88, "ottantotto"),
        (91, "novantuno"),
        (98, "novantotto"),
    ],
)
def test_the_tens_drop_their_final_vowel_before_uno_and_otto(n, words):
    assert integer_in_words(n) == words


# --------------------------------------------------------------------------- hundreds


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (100, "cento"),
        (101, "centouno"),
        (108, "centootto"),
        (111, "centoundici"),
        (200, "duecento"),
        (301, "trecentouno"),
        (308, "trecentootto"),
        (999, "novecentonovantanove"),
    ],
)
def test_the_hundreds_keep_their_vowel_before_a_unit_or_a_teen(n, words):
    assert integer_in_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (180, "centottanta"),
        (181, "centottantuno"),
        (188, "centottantotto"),
        (280, "duecentottanta"),
        (983, "novecentottantatré"),
    ],
)
def test_the_hundreds_drop_their_vowel_before_ottanta(n, words):
    assert integer_in_words(n) == words


# --------------------------------------------------------------------------- tre


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (23, "ventitré"),
        (33, "trentatré"),
        (103, "centotré"),
        (1003, "milletré"),
        (2003, "duemilatré"),
        (1000003, "unmilionetré"),
        (1000000003, "unmiliardotré"),
    ],
)
def test_tre_ending_a_compound_takes_the_accent(n, words):
    assert integer_in_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (3, "tre"),
        (13, "tredici"),
        (300, "trecento"),
        (3000, "tremila"),
        (23000, "ventitremila"),
        (3000000, "tremilioni"),
        (33000000, "trentatremilioni"),
    ],
)
def test_tre_alone_or_inside_a_longer_word_has_no_accent(n, words):
    assert integer_in_words(n) == words


# --------------------------------------------------------------------------- thousands and up


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1000, "mille"),
        (1001, "milleuno"),
        (1008, "milleotto"),
        (1011, "milleundici"),
        (1080, "milleottanta"),
        (1100, "millecento"),
        (1180, "millecentottanta"),
        (1999, "millenovecentonovantanove"),
        (2000, "duemila"),
        (2026, "duemilaventisei"),
        (10000, "diecimila"),
        (11000, "undicimila"),
        (100000, "centomila"),
        (999999, "novecentonovantanovemilanovecentonovantanove"),
    ],
)
def test_mille_never_elides_and_the_other_thousands_are_mila(n, words):
    assert integer_in_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (21000, "ventunmila"),
        (31000, "trentunmila"),
        (101000, "centounmila"),
        (181000, "centottantunmila"),
        (21000000, "ventunmilioni"),
        (21000000000, "ventunmiliardi"),
    ],
)
def test_a_compound_ending_in_uno_shortens_to_un_before_mila_milioni_miliardi(n, words):
    assert integer_in_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1000000, "unmilione"),
        (1000001, "unmilioneuno"),
        (1001000, "unmilionemille"),
        (2000000, "duemilioni"),
        (2500000, "duemilionicinquecentomila"),
        (1000000000, "unmiliardo"),
        (2000000000, "duemiliardi"),
        (
            1234567890,
            "unmiliardoduecentotrentaquattromilionicinquecentosessantasettemilaottocentonovanta",
        ),
        (
            MAX_MAJOR_IN_WORDS,
            "novecentonovantanovemiliardinovecentonovantanovemilioni"
            "novecentonovantanovemilanovecentonovantanove",
        ),
    ],
)
def test_millions_and_milliards_are_unmilione_unmiliardo_and_their_plurals(n, words):
    assert integer_in_words(n) == words


# --------------------------------------------------------------------------- worked receipt figures


@pytest.mark.parametrize(
    ("minor", "words"),
    [
        (500, "cinque/00"),
        (1000, "dieci/00"),
        (2500, "venticinque/00"),
        (2350, "ventitré/50"),
        (10800, "centootto/00"),
        (18075, "centottanta/75"),
        (30000, "trecento/00"),
        (100000, "mille/00"),
        (200001, "duemila/01"),
        (3000000, "trentamila/00"),
        (2100000, "ventunmila/00"),
        (123456, "milleduecentotrentaquattro/56"),
    ],
)
def test_typical_donation_amounts_are_written_correctly(minor, words):
    assert importo_in_lettere(minor) == words


# --------------------------------------------------------------------------- other currencies


def test_a_currency_without_minor_units_gets_the_words_alone():
    assert importo_in_lettere(1234, "JPY") == "milleduecentotrentaquattro"


def test_a_currency_with_three_decimals_writes_three_digits_after_the_slash():
    assert importo_in_lettere(1005, "TND") == "uno/005"


def test_another_two_decimal_currency_is_written_like_the_euro():
    assert importo_in_lettere(2100, "CHF") == "ventuno/00"


def test_an_unknown_currency_is_refused():
    with pytest.raises(UnknownCurrencyError):
        importo_in_lettere(100, "XYZ")


# --------------------------------------------------------------------------- refusals


def test_a_negative_amount_is_refused():
    with pytest.raises(InvalidAmountError):
        importo_in_lettere(-100)


def test_a_float_is_refused():
    with pytest.raises(InvalidAmountError):
        importo_in_lettere(1.5)  # type: ignore[arg-type]


def test_a_bool_is_refused():
    with pytest.raises(InvalidAmountError):
        importo_in_lettere(True)  # type: ignore[arg-type]


def test_mille_miliardi_and_above_are_refused_rather_than_misspelled():
    assert importo_in_lettere(MAX_MAJOR_IN_WORDS * 100 + 99).endswith("/99")
    with pytest.raises(InvalidAmountError):
        importo_in_lettere((MAX_MAJOR_IN_WORDS + 1) * 100)


def test_integer_in_words_refuses_negatives_and_non_integers():
    with pytest.raises(InvalidAmountError):
        integer_in_words(-1)
    with pytest.raises(InvalidAmountError):
        integer_in_words("12")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- an independent reading

# A reader of Italian number words, written apart from the writer: it knows the
# vocabulary (with the elided forms) and how the words combine, not the rules
# for when to elide. Reading back what was written must give the number.
_VALUES = {
    "uno": 1, "un": 1, "due": 2, "tre": 3, "tré": 3, "quattro": 4, "cinque": 5, "sei": 6,
    "sette": 7, "otto": 8, "nove": 9, "dieci": 10, "undici": 11, "dodici": 12,
    "tredici": 13, "quattordici": 14, "quindici": 15, "sedici": 16, "diciassette": 17,
    "diciotto": 18, "diciannove": 19, "venti": 20, "vent": 20, "trenta": 30, "trent": 30,
    "quaranta": 40, "quarant": 40, "cinquanta": 50, "cinquant": 50, "sessanta": 60,
    "sessant": 60, "settanta": 70, "settant": 70, "ottanta": 80, "ottant": 80,
    "novanta": 90, "novant": 90,
}  # fmt: skip
_SCALES = {"mila": 10**3, "milione": 10**6, "milioni": 10**6, "miliardo": 10**9, "miliardi": 10**9}
_VOCABULARY = sorted([*_VALUES, *_SCALES, "cento", "cent", "mille"], key=len, reverse=True)


def _tokens(rest: str) -> list[str] | None:
    """Split `rest` into vocabulary words, backtracking (cento/cent+ottanta)."""
    if not rest:
        return []
    for token in _VOCABULARY:
        if rest.startswith(token):
            tail = _tokens(rest[len(token) :])
            if tail is not None:
                return [token, *tail]
    return None


def _read(words: str) -> int:
    tokens = _tokens(words)
    assert tokens is not None, f"cannot read {words!r}"
    total = current = 0
    for token in tokens:
        if token in ("cento", "cent"):
            assert current < 10, words
            current = (current or 1) * 100
        elif token == "mille":
            assert current == 0, words
            total += 1000
        elif token in _SCALES:
            assert 0 < current < 1000, words
            total += current * _SCALES[token]
            current = 0
        else:
            current += _VALUES[token]
    return total + current


def test_every_number_below_twenty_thousand_reads_back_as_itself():
    for n in range(1, 20_000):
        assert _read(integer_in_words(n)) == n, (n, integer_in_words(n))


@given(st.integers(min_value=1, max_value=MAX_MAJOR_IN_WORDS))
@settings(max_examples=2000)
def test_any_number_up_to_the_largest_written_reads_back_as_itself(n):
    words = integer_in_words(n)
    assert words.isalpha()
    assert words == words.lower()
    assert _read(words) == n


@given(st.integers(min_value=0, max_value=MAX_MAJOR_IN_WORDS * 100 + 99))
@settings(max_examples=500)
def test_the_cents_after_the_slash_and_the_words_before_it_make_the_amount(minor):
    words, cents = importo_in_lettere(minor).split("/")
    assert len(cents) == 2
    euros = 0 if words == "zero" else _read(words)
    assert euros * 100 + int(cents) == minor


def test_only_a_compound_ending_in_tre_carries_an_accent():
    for n in range(1, 20_000):
        words = integer_in_words(n)
        assert ("é" in words) == (n % 10 == 3 and n != 3 and n % 100 != 13), (n, words)
