"""Tell a statement file's format from its content (never from its name)."""

from __future__ import annotations

import re

from ledger.reconcile.parsed import StatementFormatError

FORMATS = ("camt053", "camt054", "mt940", "csv", "xlsx")

_MT940_TAGS = re.compile(rb"(?m)^:(20|25|28C|60F|60M|61):")


def detect_format(data: bytes) -> str:
    """One of FORMATS, by the file's content; StatementFormatError when none fits."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"  # an Office Open XML workbook is a zip archive
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        if b"BkToCstmrStmt" in data:
            return "camt053"
        if b"BkToCstmrDbtCdtNtfctn" in data:
            return "camt054"
        raise StatementFormatError("an XML file that is neither camt.053 nor camt.054")
    if head.startswith(b"{1:") or len(_MT940_TAGS.findall(data.replace(b"\r", b"\n"))) >= 2:
        return "mt940"
    first = head.replace(b"\r", b"\n").split(b"\n", 1)[0]
    if b"\x00" not in head[:4096] and (b";" in first or b"," in first or b"\t" in first):
        return "csv"
    raise StatementFormatError("the file's format was not recognised")
