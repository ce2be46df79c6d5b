"""Whole-number ids in paths, bounded: `<int:...>` in every route of the app.

An id the database cannot hold (beyond 2**63 - 1, a BIGINT; SQLite refuses it
too) would reach a query and fail there as a 500. `create_app` installs
`IdConverter` as the `int` converter before any route is registered, so such a
path is the 404 of an id that does not exist, whatever the method. Digits are
ASCII only (`\\d` would also read Arabic-Indic or full-width digits).
"""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, Map, ValidationError

MAX_ID = 2**63 - 1
_MAX_DIGITS = len(str(MAX_ID))


class IdConverter(IntegerConverter):
    """`int` with ASCII digits and a ceiling of 2**63 - 1 (a lower `max` still applies)."""

    regex = r"[0-9]+"

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        ceiling = MAX_ID if max is None else max if max < MAX_ID else MAX_ID
        super().__init__(map, fixed_digits, min, ceiling, signed)

    def to_python(self, value: str) -> Any:
        # NotFound, not ValidationError: werkzeug turns a ValidationError into a 405 when
        # the same path has a rule for another method. A number of thousands of digits is
        # refused before it is read (converting it is slow).
        if len(value.lstrip("-").lstrip("0")) > _MAX_DIGITS:
            raise NotFound()
        try:
            return super().to_python(value)
        except ValidationError:
            raise NotFound() from None
