"""Statement parsers by format name, and the format of a file told by its content.

`PARSERS` is a plain dict from a format name to its pure parse function
(`bytes -> list[ParsedStatement]`, raising `StatementFormatError`). The
importer looks a format up here; a new format adds one entry.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.reconcile.formats.camt import parse_camt053, parse_camt054
from ledger.reconcile.formats.detect import FORMATS, detect_format
from ledger.reconcile.formats.mt940 import parse_mt940
from ledger.reconcile.formats.tabular import PRESETS, Preset, parse_csv, parse_xlsx
from ledger.reconcile.parsed import ParsedStatement, StatementFormatError

Parser = Callable[[bytes], list[ParsedStatement]]


def _with_preset(
    parse: Callable[[bytes, Preset], list[ParsedStatement]], kind: str
) -> Callable[..., list[ParsedStatement]]:
    """A CSV or XLSX reader that takes the preset by name (`--preset bancoposta`) or
    the account's own `Preset` (set once per account, passed by the importer)."""

    def read(data: bytes, preset: str | Preset | None = None) -> list[ParsedStatement]:
        if isinstance(preset, Preset):
            return parse(data, preset)
        names = ", ".join(sorted(PRESETS))
        if preset is None:
            raise StatementFormatError(
                f"a {kind} export needs a preset: one of {names}, or the account's own"
            )
        found = PRESETS.get(preset)
        if found is None:
            raise StatementFormatError(f"unknown preset {preset!r}: one of {names}")
        return parse(data, found)

    return read


PARSERS: dict[str, Parser] = {
    "camt053": parse_camt053,
    "camt054": parse_camt054,
    "mt940": parse_mt940,
    "csv": _with_preset(parse_csv, "CSV"),
    "xlsx": _with_preset(parse_xlsx, "XLSX"),
}

__all__ = ["FORMATS", "PARSERS", "Parser", "detect_format"]
