"""What a use case answers: the thing done and whether this call did it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """`value` is what the act made or changed; `created` is false when this call
    answered a repeat of an earlier request (nothing was written by it)."""

    value: T
    created: bool
