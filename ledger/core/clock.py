"""Time: recorded timestamps are aware UTC; business dates are Europe/Rome days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock tests can set and move."""

    def __init__(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


def rome_today(clock: Clock) -> date:
    """The business date in Italy at the clock's instant."""
    return clock.now().astimezone(ROME).date()
