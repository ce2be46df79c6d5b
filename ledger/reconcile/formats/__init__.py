"""Statement parsers by format name, and the format of a file told by its content.

`PARSERS` is a plain dict from a format name to its pure parse function
(`bytes -> list[ParsedStatement]`, raising `StatementFormatError`). The
importer looks a format up here; a new format adds one entry.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.reconcile.formats.camt import parse_camt053, parse_camt054
from ledger.reconcile.formats.detect import FORMATS, detect_format
from ledger.reconcile.parsed import ParsedStatement

Parser = Callable[[bytes], list[ParsedStatement]]

PARSERS: dict[str, Parser] = {
    "camt053": parse_camt053,
    "camt054": parse_camt054,
}

__all__ = ["FORMATS", "PARSERS", "Parser", "detect_format"]
