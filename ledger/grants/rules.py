"""Matching-grant rules: pure arithmetic, no database and no clock.

Every amount is a non-negative integer count of minor units (cents); a rate or a
share is a `Decimal`, and the only way from a Decimal back to money names its
rounding mode: matches, top-ups and bonuses round down (floor), so the
foundation is never committed a cent beyond its word; a threshold stated as a
share of the budget rounds up (ceiling), so it is never reached early. Amounts
here are magnitudes: the caller gives them their journal sign.

Ratio match (`RatioRule`, `match_gift`), the cumulative method of DESIGN.md
section 3. A gift is eligible when it settled inside the window, was paid by
an allowed method and its gross amount is at least `min_gift` (the donor chose
the gross; a processor's fee must not disqualify them). Its eligible part is
the counted amount (gross, or gross minus fee when `count_net`) capped at
`max_gift` ("the first 1,000 EUR of a gift"). With E the campaign's eligible
money so far, the match so far is T(E) = min(campaign_cap, floor(ratio x E))
and a gift adding e is offered T(E + e) - T(E), then clamped, never below
zero, by what remains of the donor's cap, of the campaign's cap and of the
pool. So ten gifts of 33.33 at 0.30 are matched 99.99 in all, not the 99.90
that per-gift floors would give, and the sum of the per-gift matches is the
match so far. Eligible money counts in full even when a clamp withholds its
match: a later gift is offered only its own margin, never a catch-up.

Refund of a matched gift (`match_after_refund`): the campaign's gifts are
replayed in commit order as they stand after the refund, within the match the
campaign already holds (a refund never draws more from the pool). What was
matched beyond the replay is the excess: policy "claw_back" takes it back,
"keep" leaves it with the campaign and still reports it.

Threshold top-up (`ThresholdRule`): reached when settled money raised is
greater than or equal to the threshold (an amount, or a share of the budget),
distinct donors are at least `min_donors`, and the moment is inside the
window. The top-up is a fixed amount or a share of the budget, floored, capped;
policy "fixed" releases it whole, "remaining_to_goal" only what still lacks
to the budget. After a refund, `threshold_after_refund` says whether the
threshold is still met and what policy "claw_back" takes back (all of it).

Completion bonus (`CompletionBonusRule`): a share of the budget, floored and
optionally capped, paid only when the crowd alone reached the budget.
Whether it replaces the top-up (Impatto+) is the commitment's combination.

Windows (`Window`) hold aware instants, both ends inclusive, the end
inclusive of its whole second (a gift at 23:59:59.999 on the last day is in).
Comparisons are made in UTC, so a window across a daylight-saving change, or
ending inside the repeated autumn hour, is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, NamedTuple

from ledger.core.clock import ROME
from ledger.core.errors import InvalidAmountError, LedgerError
from ledger.core.money import MAX_MINOR

TopupPolicy = Literal["fixed", "remaining_to_goal"]
ClawbackPolicy = Literal["keep", "claw_back"]

TOPUP_POLICIES: frozenset[str] = frozenset({"fixed", "remaining_to_goal"})
CLAWBACK_POLICIES: frozenset[str] = frozenset({"keep", "claw_back"})


class InvalidRuleError(LedgerError):
    """A rule setting is not acceptable (422); `details["field"]` names it."""

    code = "invalid_grant_rule"


class InvalidGiftError(LedgerError):
    """A gift, state or figure given to a rule is not acceptable (422)."""

    code = "invalid_grant_gift"


class Reason(StrEnum):
    """Why a gift got the match it got; the values are stable codes."""

    MATCHED = "matched"
    MAX_GIFT = "max_gift"
    OUTSIDE_WINDOW = "outside_window"
    METHOD_NOT_ELIGIBLE = "method_not_eligible"
    BELOW_MINIMUM = "below_minimum"
    NOTHING_TO_MATCH = "nothing_to_match"
    DONOR_CAP = "donor_cap"
    CAMPAIGN_CAP = "campaign_cap"
    POOL_LIMIT = "pool_limit"


# --------------------------------------------------------------------------- checks


def _amount(name: str, value: object, *, error: type[LedgerError] = InvalidGiftError) -> int:
    # bool is an int subclass: True cents is a bug, not an amount.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmountError(
            f"{name} is integer minor units, not {type(value).__name__}", field=name
        )
    if value < 0 or value > MAX_MINOR:
        raise error(f"{name} must be between 0 and {MAX_MINOR}", field=name)
    return value


def _optional_amount(name: str, value: object) -> int | None:
    return None if value is None else _amount(name, value, error=InvalidRuleError)


def _share(name: str, value: object) -> Decimal:
    # A share is a fraction of one: "40" for 40 % is the classic slip, refused.
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value <= 1:
        raise InvalidRuleError(f"{name} is a Decimal share in (0, 1]", field=name)
    return value


def _aware(name: str, value: object, error: type[LedgerError]) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise error(f"{name} must be a timezone-aware datetime", field=name)
    return value


def _apply_rate(minor: int, rate: Decimal, *, rounding: str) -> int:
    """`minor` x `rate` in whole minor units, rounded with the named decimal mode.

    Exact integer arithmetic on the rate's fraction: no Decimal context
    precision can round the product before the floor or the ceiling.
    """
    numerator, denominator = rate.as_integer_ratio()
    if rounding == ROUND_FLOOR:
        return (minor * numerator) // denominator
    if rounding == ROUND_CEILING:
        return -((-minor * numerator) // denominator)
    raise InvalidRuleError(f"unsupported rounding {rounding!r}", field="rounding")


def counted_amount(amount_minor: int, fee_minor: int, *, count_net: bool) -> int:
    """The part of a gift that counts: gross, or gross minus fee (never below 0)."""
    _amount("amount_minor", amount_minor)
    _amount("fee_minor", fee_minor)
    return max(0, amount_minor - fee_minor) if count_net else amount_minor


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True, slots=True)
class Window:
    """An eligibility window: `start` and `end` inclusive, `end` of its whole second."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _aware("start", self.start, InvalidRuleError)
        _aware("end", self.end, InvalidRuleError)
        if self.start.astimezone(UTC) > self.end.astimezone(UTC):
            raise InvalidRuleError("the window ends before it starts", field="end")

    @classmethod
    def rome_days(cls, first: date, last: date) -> Window:
        """From 00:00:00 of `first` to 23:59:59 (whole second) of `last`, Europe/Rome."""
        # Italy changes clocks at 02:00/03:00, so midnight and 23:59:59 exist once.
        return cls(
            datetime.combine(first, time(0, 0, 0), tzinfo=ROME),
            datetime.combine(last, time(23, 59, 59), tzinfo=ROME),
        )

    def contains(self, at: datetime) -> bool:
        """Whether the instant `at` (aware) lies in the window."""
        # Compared in UTC: aware datetimes sharing one tzinfo compare by wall
        # clock, which is wrong inside the repeated autumn hour.
        instant = _aware("at", at, InvalidGiftError).astimezone(UTC)
        after_end = self.end.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        return self.start.astimezone(UTC) <= instant < after_end


# --------------------------------------------------------------------------- ratio match


@dataclass(frozen=True, slots=True, kw_only=True)
class RatioRule:
    """n:1 matching, cumulative; amounts in minor units, None meaning no cap.

    `ratio` is match per unit given (Decimal("2") for "2 EUR for every 1 EUR").
    `min_gift` applies to the gross gift; `max_gift` caps each gift's eligible
    part; `donor_cap` caps one donor's match across gifts; `campaign_cap` the
    campaign's match. `methods` are the eligible payment methods.
    """

    ratio: Decimal
    window_start: datetime
    window_end: datetime
    methods: frozenset[str]
    min_gift: int = 0
    max_gift: int | None = None
    donor_cap: int | None = None
    campaign_cap: int | None = None
    count_net: bool = False

    def __post_init__(self) -> None:
        ratio = self.ratio
        if not isinstance(ratio, Decimal) or not ratio.is_finite() or ratio <= 0:
            raise InvalidRuleError("ratio is a positive Decimal", field="ratio")
        _amount("min_gift", self.min_gift, error=InvalidRuleError)
        for name in ("max_gift", "donor_cap", "campaign_cap"):
            _optional_amount(name, getattr(self, name))
        if self.max_gift is not None and (self.max_gift == 0 or self.max_gift < self.min_gift):
            raise InvalidRuleError("max_gift is positive and not below min_gift", field="max_gift")
        if (
            not isinstance(self.methods, frozenset)
            or not self.methods
            or not all(isinstance(m, str) and m for m in self.methods)
        ):
            raise InvalidRuleError("methods is a non-empty frozenset of names", field="methods")
        if not isinstance(self.count_net, bool):
            raise InvalidRuleError("count_net is a bool", field="count_net")
        Window(self.window_start, self.window_end)  # checks the ends

    @property
    def window(self) -> Window:
        return Window(self.window_start, self.window_end)

    def target(self, eligible_minor: int) -> int:
        """T(E): the campaign's match so far for eligible money E, floored and capped."""
        floored = _apply_rate(
            _amount("eligible_minor", eligible_minor), self.ratio, rounding=ROUND_FLOOR
        )
        return floored if self.campaign_cap is None else min(self.campaign_cap, floored)


@dataclass(frozen=True, slots=True)
class Gift:
    """A settled gift as the rules see it: gross amount, processor fee, who, how, when."""

    amount_minor: int
    fee_minor: int
    donor_key: str
    method: str
    settled_at: datetime

    def __post_init__(self) -> None:
        _amount("amount_minor", self.amount_minor)
        _amount("fee_minor", self.fee_minor)
        if not isinstance(self.donor_key, str) or not self.donor_key:
            raise InvalidGiftError("donor_key is a non-empty string", field="donor_key")
        if not isinstance(self.method, str) or not self.method:
            raise InvalidGiftError("method is a non-empty string", field="method")
        _aware("settled_at", self.settled_at, InvalidGiftError)


def _frozen_counts(name: str, value: Mapping[str, int]) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        raise InvalidGiftError(f"{name} is a mapping of donor key to minor units", field=name)
    for key, minor in value.items():
        if not isinstance(key, str):
            raise InvalidGiftError(f"{name} keys are donor keys (str)", field=name)
        _amount(name, minor)
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class MatchState:
    """One commitment's matching on one campaign so far, and its pool.

    `pool_remaining` is what the commitment's pool can still give (shared by
    every campaign the commitment covers, read by the caller under lock).
    The donor mappings are read-only copies; missing donors count as 0.
    """

    pool_remaining: int
    campaign_eligible: int = 0
    campaign_matched: int = 0
    donor_eligible: Mapping[str, int] = field(default_factory=dict)
    donor_matched: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("pool_remaining", "campaign_eligible", "campaign_matched"):
            _amount(name, getattr(self, name))
        for name in ("donor_eligible", "donor_matched"):
            object.__setattr__(self, name, _frozen_counts(name, getattr(self, name)))

    def eligible_of(self, donor_key: str) -> int:
        return self.donor_eligible.get(donor_key, 0)

    def matched_of(self, donor_key: str) -> int:
        return self.donor_matched.get(donor_key, 0)


class MatchResult(NamedTuple):
    """One gift's match, the state after it, and why (unpacks as a triple)."""

    match_minor: int
    state: MatchState
    reason: Reason


class MatchRun(NamedTuple):
    """The results of a sequence of gifts, in order, and the final state."""

    results: tuple[MatchResult, ...]
    state: MatchState


def eligible_part(rule: RatioRule, gift: Gift) -> tuple[int, Reason]:
    """The gift's eligible part and why: 0 with the refusal reason when it is not eligible."""
    if not rule.window.contains(gift.settled_at):
        return 0, Reason.OUTSIDE_WINDOW
    if gift.method not in rule.methods:
        return 0, Reason.METHOD_NOT_ELIGIBLE
    if gift.amount_minor < rule.min_gift:
        return 0, Reason.BELOW_MINIMUM
    counted = counted_amount(gift.amount_minor, gift.fee_minor, count_net=rule.count_net)
    if counted == 0:
        return 0, Reason.NOTHING_TO_MATCH
    if rule.max_gift is not None and counted > rule.max_gift:
        return rule.max_gift, Reason.MAX_GIFT
    return counted, Reason.MATCHED


def match_gift(rule: RatioRule, state: MatchState, gift: Gift) -> MatchResult:
    """Match one gift on top of `state`; pure, so it also quotes a gift not yet made.

    The offer is T(E + e) - T(E); it is clamped by the donor's, the campaign's
    and the pool's remaining room. `reason` names what decided the amount: a
    refusal, the tightest clamp, "max_gift" or "matched".
    """
    eligible, reason = eligible_part(rule, gift)
    if eligible == 0:
        return MatchResult(0, state, reason)

    before, after = state.campaign_eligible, state.campaign_eligible + eligible
    match = rule.target(after) - rule.target(before)
    uncapped = _apply_rate(after, rule.ratio, rounding=ROUND_FLOOR) - _apply_rate(
        before, rule.ratio, rounding=ROUND_FLOOR
    )
    if match < uncapped:
        reason = Reason.CAMPAIGN_CAP

    donor = gift.donor_key
    rooms: list[tuple[int | None, Reason]] = [
        (
            None if rule.donor_cap is None else rule.donor_cap - state.matched_of(donor),
            Reason.DONOR_CAP,
        ),
        # Redundant with T's cap unless a kept refund left the campaign above T.
        (
            None if rule.campaign_cap is None else rule.campaign_cap - state.campaign_matched,
            Reason.CAMPAIGN_CAP,
        ),
        (state.pool_remaining, Reason.POOL_LIMIT),
    ]
    for room, why in rooms:
        if room is not None and room < match:
            match, reason = max(0, room), why

    new_state = MatchState(
        pool_remaining=state.pool_remaining - match,
        campaign_eligible=after,
        campaign_matched=state.campaign_matched + match,
        donor_eligible={**state.donor_eligible, donor: state.eligible_of(donor) + eligible},
        donor_matched={**state.donor_matched, donor: state.matched_of(donor) + match},
    )
    return MatchResult(match, new_state, reason)


def match_gifts(rule: RatioRule, state: MatchState, gifts: Iterable[Gift]) -> MatchRun:
    """Match `gifts` one after another (commit order) starting from `state`."""
    results: list[MatchResult] = []
    for gift in gifts:
        result = match_gift(rule, state, gift)
        results.append(result)
        state = result.state
    return MatchRun(tuple(results), state)


class RefundOutcome(NamedTuple):
    """A refund of a matched gift under the commitment's clawback policy.

    `excess_minor` is what was matched beyond the recomputed match, reported
    under both policies; `clawback_minor` is what goes back to the pool (the
    excess under "claw_back", 0 under "keep").
    """

    clawback_minor: int
    excess_minor: int
    match_before: int
    match_after: int
    state: MatchState


def match_after_refund(
    rule: RatioRule,
    state: MatchState,
    gifts: Sequence[Gift],
    refunded: int,
    refund_minor: int,
    policy: ClawbackPolicy,
    donor_matched_elsewhere: Mapping[str, int] | None = None,
) -> RefundOutcome:
    """Recompute the campaign's match after `refund_minor` of `gifts[refunded]` went back.

    `gifts` are the campaign's gifts in commit order as they stood before this
    refund (earlier refunds already deducted); `state` is the booked state.
    The gifts are replayed, the refunded one reduced (its fee stays: the
    processor keeps it), with only the match the campaign already holds to
    draw on. `donor_matched_elsewhere` is what each donor was matched by the same
    commitment on its other campaigns (a commitment toward a call): the replay
    starts from it, so a donor capped there stays capped here. The cumulative
    floor can make the excess a cent more than the
    refunded gift's own match: the campaign's match never exceeds
    floor(ratio x eligible) after a clawback either.
    """
    if policy not in CLAWBACK_POLICIES:
        raise InvalidRuleError(f"unknown clawback policy {policy!r}", field="policy")
    if isinstance(refunded, bool) or not isinstance(refunded, int):
        raise InvalidGiftError("refunded is an index into gifts", field="refunded")
    if not 0 <= refunded < len(gifts):
        raise InvalidGiftError("refunded is not one of the gifts", field="refunded")
    gift = gifts[refunded]
    if _amount("refund_minor", refund_minor) == 0 or refund_minor > gift.amount_minor:
        raise InvalidGiftError("a refund is more than 0 and at most the gift", field="refund_minor")

    amended = list(gifts)
    amended[refunded] = replace(gift, amount_minor=gift.amount_minor - refund_minor)
    start = MatchState(
        pool_remaining=state.campaign_matched, donor_matched=dict(donor_matched_elsewhere or {})
    )
    replay = match_gifts(rule, start, amended).state
    excess = state.campaign_matched - replay.campaign_matched

    if policy == "keep":
        kept = MatchState(
            pool_remaining=state.pool_remaining,
            campaign_eligible=replay.campaign_eligible,
            campaign_matched=state.campaign_matched,
            donor_eligible=replay.donor_eligible,
            donor_matched=state.donor_matched,
        )
        return RefundOutcome(0, excess, state.campaign_matched, state.campaign_matched, kept)
    clawed = replace(replay, pool_remaining=state.pool_remaining + excess)
    return RefundOutcome(excess, excess, state.campaign_matched, replay.campaign_matched, clawed)


# --------------------------------------------------------------------------- threshold top-up


@dataclass(frozen=True, slots=True, kw_only=True)
class ThresholdRule:
    """A top-up released once the crowd reaches a threshold.

    `threshold` and `topup` are each an amount (int, minor units) or a
    Decimal share of `budget_minor` in (0, 1]; `cap_minor` None means uncapped.
    """

    budget_minor: int
    threshold: int | Decimal
    topup: int | Decimal
    window: Window
    policy: TopupPolicy = "fixed"
    min_donors: int | None = None
    cap_minor: int | None = None

    def __post_init__(self) -> None:
        if _amount("budget_minor", self.budget_minor, error=InvalidRuleError) == 0:
            raise InvalidRuleError("budget_minor is positive", field="budget_minor")
        for name in ("threshold", "topup"):
            value = getattr(self, name)
            if isinstance(value, Decimal):
                _share(name, value)
            else:
                _amount(name, value, error=InvalidRuleError)
        if self.threshold == 0:
            raise InvalidRuleError("threshold is positive", field="threshold")
        if not isinstance(self.window, Window):
            raise InvalidRuleError("window is a Window", field="window")
        if self.policy not in TOPUP_POLICIES:
            raise InvalidRuleError(f"unknown top-up policy {self.policy!r}", field="policy")
        if self.min_donors is not None and (
            isinstance(self.min_donors, bool)
            or not isinstance(self.min_donors, int)
            or self.min_donors < 1
        ):
            raise InvalidRuleError("min_donors is a positive int or None", field="min_donors")
        _optional_amount("cap_minor", self.cap_minor)

    @property
    def threshold_minor(self) -> int:
        """The threshold in minor units; a share of the budget rounds up (ceiling)."""
        if isinstance(self.threshold, Decimal):
            return _apply_rate(self.budget_minor, self.threshold, rounding=ROUND_CEILING)
        return self.threshold

    @property
    def topup_minor(self) -> int:
        """The configured top-up before policy: the amount, or the share floored, capped."""
        if isinstance(self.topup, Decimal):
            amount = _apply_rate(self.budget_minor, self.topup, rounding=ROUND_FLOOR)
        else:
            amount = self.topup
        return amount if self.cap_minor is None else min(self.cap_minor, amount)


def _donors(donors: object) -> int:
    if isinstance(donors, bool) or not isinstance(donors, int) or donors < 0:
        raise InvalidGiftError("donors is a count of distinct donors", field="donors")
    return donors


def threshold_met(rule: ThresholdRule, raised_minor: int, donors: int) -> bool:
    """Raised >= threshold and enough distinct donors, whatever the time."""
    _amount("raised_minor", raised_minor)
    enough_donors = rule.min_donors is None or _donors(donors) >= rule.min_donors
    return raised_minor >= rule.threshold_minor and enough_donors


def threshold_reached(rule: ThresholdRule, raised_minor: int, donors: int, at: datetime) -> bool:
    """Whether settled money `raised_minor` from `donors` reaches the threshold at `at`."""
    return rule.window.contains(at) and threshold_met(rule, raised_minor, donors)


def topup_amount(rule: ThresholdRule, raised_minor: int) -> int:
    """The top-up the rule releases with `raised_minor` raised (whether it is due is
    `threshold_reached`'s question): "fixed" gives min(cap, topup);
    "remaining_to_goal" gives min(cap, topup, max(0, budget - raised)).
    """
    _amount("raised_minor", raised_minor)
    amount = rule.topup_minor
    if rule.policy == "remaining_to_goal":
        amount = min(amount, max(0, rule.budget_minor - raised_minor))
    return amount


class ThresholdRefundOutcome(NamedTuple):
    """Whether a released threshold still holds after a refund, and what goes back."""

    still_met: bool
    clawback_minor: int


def threshold_after_refund(
    rule: ThresholdRule,
    released_minor: int,
    raised_minor: int,
    donors: int,
    policy: ClawbackPolicy,
) -> ThresholdRefundOutcome:
    """After a refund left `raised_minor` from `donors`: is the threshold still met?

    If it is not, "claw_back" takes back the whole `released_minor` and "keep"
    takes back nothing (the decision stays frozen); `still_met` says it either way.
    """
    if policy not in CLAWBACK_POLICIES:
        raise InvalidRuleError(f"unknown clawback policy {policy!r}", field="policy")
    _amount("released_minor", released_minor)
    still_met = threshold_met(rule, raised_minor, donors)
    clawback = released_minor if (not still_met and policy == "claw_back") else 0
    return ThresholdRefundOutcome(still_met, clawback)


# --------------------------------------------------------------------------- completion bonus


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionBonusRule:
    """A bonus of `share` of the budget (floored, capped) when the crowd alone reaches it."""

    share: Decimal
    cap_minor: int | None = None

    def __post_init__(self) -> None:
        _share("share", self.share)
        _optional_amount("cap_minor", self.cap_minor)


def completion_bonus(rule: CompletionBonusRule, raised_without_topup: int, budget: int) -> int:
    """The bonus due: floor(share x budget), capped, if raised (no top-up) >= budget; else 0."""
    _amount("raised_without_topup", raised_without_topup)
    if _amount("budget", budget) == 0:
        raise InvalidGiftError("budget is positive", field="budget")
    if raised_without_topup < budget:
        return 0
    bonus = _apply_rate(budget, rule.share, rounding=ROUND_FLOOR)
    return bonus if rule.cap_minor is None else min(rule.cap_minor, bonus)
