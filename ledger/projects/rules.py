"""The funders' formulas, pure: grant due, line variance, co-financing share, budget limits.

- Grant due after proportional reduction: ``min(G, G x C_actual / C_budget)``
  over eligible cost, in integer minor units rounded down (ROUND_FLOOR: the
  funder never pays a cent more than the proportion). Budget 100,000.00, grant
  60,000.00, eligible actual 90,000.00 -> 54,000.00.
- A line's variance ``|actual - budget| / budget`` is flagged when it is
  strictly above the funder's threshold (per cent): budget 10,000.00, actual
  12,500.00 is 25 %, flagged at 20 % and not at 30 %. A line with no budget and
  some actual is always flagged. Compared in integers, never rounded.
- Co-financing share = non-grant sources / total cost, a Decimal of four places
  (ROUND_HALF_EVEN), for printing only; limits are checked in integers.
- Percentages of the settings are decimal strings ("30", "12.5").
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

GRANT_ROUNDING = "ROUND_FLOOR"  # named on the report


def percent(text: str | None, name: str) -> Decimal | None:
    """A setting's percentage (0 to 100) as a Decimal, None when not set."""
    if text is None:
        return None
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise ValueError(f"{name}: percentuale non valida ({text!r})") from None
    if not value.is_finite() or value < 0 or value > 100:
        raise ValueError(f"{name}: la percentuale va da 0 a 100 ({text!r})")
    return value


def grant_due(grant_minor: int, actual_minor: int, budget_minor: int) -> int:
    """min(G, floor(G x actual / budget)); nothing without a budget or a cost."""
    if budget_minor <= 0 or actual_minor <= 0 or grant_minor <= 0:
        return 0
    return min(grant_minor, grant_minor * actual_minor // budget_minor)


def variance_flagged(budget_minor: int, actual_minor: int, threshold_pct: Decimal) -> bool:
    """Whether |actual - budget| / budget is strictly above threshold_pct per cent."""
    if budget_minor == 0:
        return actual_minor != 0
    return Decimal(abs(actual_minor - budget_minor)) * 100 > threshold_pct * budget_minor


def variance_pct(budget_minor: int, actual_minor: int) -> Decimal | None:
    """actual / budget in per cent, two places (for printing); None without a budget."""
    if budget_minor == 0:
        return None
    return (Decimal(actual_minor) * 100 / Decimal(budget_minor)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_EVEN
    )


def share(part_minor: int, total_minor: int) -> Decimal:
    """part / total as a Decimal of four places (0 when there is no total)."""
    if total_minor <= 0:
        return Decimal("0.0000")
    return (Decimal(part_minor) / Decimal(total_minor)).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_EVEN
    )


def at_most(part_minor: int, total_minor: int, pct: Decimal) -> bool:
    """part <= pct % of total, exactly."""
    return Decimal(part_minor) * 100 <= pct * total_minor


def at_least(part_minor: int, total_minor: int, pct: Decimal) -> bool:
    """part >= pct % of total, exactly."""
    return Decimal(part_minor) * 100 >= pct * total_minor
