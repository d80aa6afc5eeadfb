"""One declaration per action type: how it runs, how it is reconciled, what its payload holds, what it costs.

Each app declares the specs of the action types it owns in ``<app>/executors.py``
and registers them from its ``AppConfig.ready`` with ``action_specs_register``:
``engagement`` (comment replies, private replies, moderation), ``messaging``
(DMs, typing indicators, ice breakers), ``publishing`` (publishing steps, first
comments). Everything else reads them from here: the executor
(``actions.executor``: run, reconcile), the gate (``safety``: the policy keys,
whether the action is content, the Meta limits it consumes) and the warm-up
(``warmup.phases``: the capability a phase must enable).

This module imports nothing of the apps, nor of ``safety``: the lower layers
read the registry, the apps above fill it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, cast

if TYPE_CHECKING:
    from actions.models import Action
    from instagram.client import InstagramClient


@dataclass(frozen=True)
class Reconciliation:
    """What Instagram shows about an action whose outcome was unknown."""

    happened: bool
    result: dict[str, Any]


class ActionPayload:
    """Base of the typed payloads: a frozen dataclass of the keys the executor and the reconciler read.

    Built from the JSON stored on the action; keys it does not declare (kept
    for the safety engine or for people: ``rule_id``, ``variations``…) are ignored.
    """

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Self:
        names = _field_names(cls)
        return cls(**{name: value for name, value in payload.items() if name in names})

    @classmethod
    def of(cls, action: Action) -> Self:
        return cls.from_json(action.payload or {})


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(payload_type: type) -> frozenset[str]:
    names = _FIELD_NAMES.get(payload_type)
    if names is None:
        names = _FIELD_NAMES[payload_type] = frozenset(field.name for field in fields(cast(Any, payload_type)))
    return names


@dataclass(frozen=True)
class LimitUse:
    """One of Meta's limits (a key of ``safety.policies.META_CEILINGS``) that each action of the type consumes.

    ``units`` empty: one per action. Else the name of an integer the action
    counts: the planned number in its payload, replaced by the number its
    result reports once it has run (a publishing step that created no
    container reports 0). Absent from both: 0.
    """

    limit: str
    units: str = ""

    def units_of(self, payload: Mapping[str, Any] | None, result: Mapping[str, Any] | None = None) -> int:
        if not self.units:
            return 1
        for source in (result, payload):
            if source and source.get(self.units) is not None:
                return int(source[self.units])
        return 0


P = TypeVar("P", bound=ActionPayload)


@dataclass(frozen=True)
class ActionSpec(Generic[P]):
    """Everything the product knows about one action type, declared once by the app that owns it."""

    action_type: str
    payload: type[P]
    # Makes the call (the only caller of the client's writes) and returns the result stored on the ledger.
    run: Callable[[Action, InstagramClient], dict[str, Any]]
    # For an action whose outcome is unknown: does Instagram show it happened? Required: an action type
    # that cannot be reconciled must not be sent.
    reconcile: Callable[[Action, InstagramClient], Reconciliation]
    # The warm-up capability a phase must enable (``warmup.phases.CAPABILITIES``; "all": day 7 only).
    capability: str
    # How the safety policy names the type: (cooldown key, hourly/daily limit key), e.g. ("dm", "dms");
    # None: the policy has no per-type setting for it.
    policy_key: tuple[str, str] | None
    # Content reaches a person or the public: the account's own limits, cooldowns, warm-up and the pattern
    # detector apply. Not content (a typing indicator, ice breakers): only Meta's limits.
    content: bool
    # Meta's limits each action consumes (empty: none of them).
    limits: tuple[LimitUse, ...]
    # Whether it uses the warm-up day's action budget (a typing indicator rides on the DM it precedes).
    warmup_budget: bool = True

    def payload_of(self, action: Action) -> P:
        return self.payload.of(action)

    def limit_use(self, limit: str) -> LimitUse | None:
        return next((use for use in self.limits if use.limit == limit), None)


_SPECS: dict[str, ActionSpec[Any]] = {}
_lock = threading.Lock()
_version = 0  # bumped on each registration: the derived sets below recompute once after it


def action_specs_register(specs: tuple[ActionSpec[Any], ...] | list[ActionSpec[Any]]) -> None:
    """Register an app's specs; call it from the app's ``AppConfig.ready``.

    One spec per action type: a second, different spec for a type is a mistake and raises. Every action
    type that consumes one of Meta's limits counts it the same way (one per action, or the same units).
    """
    global _version
    with _lock:
        for spec in specs:
            action_type = str(spec.action_type)  # a plain string, whether given as ActionType or not
            known = _SPECS.get(action_type)
            if known is not None and known != spec:
                raise ValueError(f"the action type {spec.action_type!r} already has a spec")
            for use in spec.limits:
                for other in _SPECS.values():
                    theirs = other.limit_use(use.limit)
                    if other.action_type != action_type and theirs is not None and theirs.units != use.units:
                        raise ValueError(f"{use.limit!r} is counted in different units by {other.action_type!r}")
            _SPECS[action_type] = spec
        _version += 1


def action_spec(action_type: str) -> ActionSpec[Any]:
    """The spec of ``action_type``; ``LookupError`` when no app declared one."""
    spec = _SPECS.get(action_type)
    if spec is None:
        raise LookupError(f"no action spec for {action_type!r}: declare it in its app's executors.py")
    return spec


def action_spec_find(action_type: str) -> ActionSpec[Any] | None:
    return _SPECS.get(action_type)


def action_specs() -> dict[str, ActionSpec[Any]]:
    """Every registered spec, by action type."""
    return dict(_SPECS)


_consumers: dict[str, tuple[int, dict[str, LimitUse]]] = {}


def limit_consumers(limit: str) -> dict[str, LimitUse]:
    """The action types consuming Meta's limit ``limit``, each with how it counts it (read once per registration)."""
    cached = _consumers.get(limit)
    if cached is None or cached[0] != _version:
        specs = list(_SPECS.items())
        found = {action_type: use for action_type, spec in specs for use in spec.limits if use.limit == limit}
        cached = _consumers[limit] = (_version, found)
    return cached[1]


class ActionTypesWhere(Set[str]):
    """The action types whose spec satisfies ``predicate``: a set read from the registry, recomputed after a
    registration (so it can be a module constant although the apps register their specs later)."""

    def __init__(self, predicate: Callable[[ActionSpec[Any]], bool]) -> None:
        self._predicate = predicate
        self._types: frozenset[str] = frozenset()
        self._seen = -1

    def _current(self) -> frozenset[str]:
        if self._seen != _version:
            self._types = frozenset(action_type for action_type, spec in list(_SPECS.items()) if self._predicate(spec))
            self._seen = _version
        return self._types

    def __contains__(self, action_type: object) -> bool:
        return action_type in self._current()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._current()))

    def __len__(self) -> int:
        return len(self._current())

    def __hash__(self) -> int:
        return hash(self._current())

    def __repr__(self) -> str:
        return f"ActionTypesWhere({sorted(self._current())})"
