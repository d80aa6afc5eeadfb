"""Using up injected faults (a write shared by the graph endpoints and the webhook sender)."""

from __future__ import annotations

from django.db.models import F

from sandbox.models import SandboxFault


def sandbox_fault_consume(*, fault: SandboxFault) -> bool:
    """Count one hit; False when other requests used up its last one first (a conditional UPDATE, race-free)."""
    hits = SandboxFault.objects.filter(pk=fault.pk)
    if fault.remaining is None:
        return bool(hits.update(hits=F("hits") + 1))
    return bool(hits.filter(remaining__gt=0).update(remaining=F("remaining") - 1, hits=F("hits") + 1))
