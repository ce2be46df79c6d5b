"""ISO 11649 structured creditor references ("RF" references) of gifts and loans.

A bank transfer that carries the reference of a record (a pending gift by
transfer, a loan) can be matched to it without anybody reading the transfer's
text. The reference is derived from the row, so it is stable and readable:

    RF + 2 check digits + <kind><id>

where the kind is `D` for a gift (`donations.transfer_reference`) and `L` for a
loan (`loans.transfer_reference`), and the id is the row's id in decimal,
without padding: gift 12 is `RF…D12`, loan 7 is `RF…L7`. The check digits are
ISO 11649's (ISO 7064 mod 97-10 over the body followed by `RF`), computed and
checked with python-stdnum. The body is at most 21 characters, so any id up to
20 digits fits. Two records never share a reference (the kind and the id
differ), and the columns are unique besides.
"""

from __future__ import annotations

import re

from stdnum import iso11649
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_97_10

GIFT = "D"
LOAN = "L"
KINDS = (GIFT, LOAN)
_BODY = re.compile(r"^([A-Z])([0-9]+)$")


def creditor_reference(kind: str, row_id: int) -> str:
    """The RF reference of the record `kind` (GIFT or LOAN) with this id, compact
    (`RF35D12`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of reference: {kind!r}")
    if not isinstance(row_id, int) or row_id <= 0:
        raise ValueError(f"a reference needs a positive row id, not {row_id!r}")
    body = f"{kind}{row_id}"
    if len(body) > 21:
        raise ValueError("the reference body is longer than 21 characters")
    reference = f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"
    return str(iso11649.validate(reference))


def parse_reference(text: str) -> tuple[str, int] | None:
    """The (kind, id) an RF reference of ours names, or None: the check digits are
    wrong, it is not an RF reference, or its body is not one of ours."""
    try:
        compact = str(iso11649.validate(text))
    except ValidationError:
        return None
    match = _BODY.match(compact[4:])
    if match is None or match.group(1) not in KINDS:
        return None
    return match.group(1), int(match.group(2))


def printable(reference: str) -> str:
    """The reference in groups of four, as printed for a person to type (`RF35 D12`)."""
    return str(iso11649.format(reference))
