"""The gate's answer about one action: allow, defer(until, reason) or deny(reason)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from actions.models import Verdict


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str
    until: datetime | None = None

    @classmethod
    def allow(cls, reason: str = "within every limit") -> Decision:
        return cls(Verdict.ALLOW, reason)

    @classmethod
    def defer(cls, until: datetime, reason: str) -> Decision:
        return cls(Verdict.DEFER, reason, until)

    @classmethod
    def deny(cls, reason: str) -> Decision:
        return cls(Verdict.DENY, reason)
