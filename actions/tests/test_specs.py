"""Every action type has one complete spec, and every Meta limit is consumed by something the code really does."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from actions.models import NOT_CONTENT_TYPES, Action, ActionType
from actions.specs import (
    ActionPayload,
    ActionSpec,
    LimitUse,
    Reconciliation,
    action_spec,
    action_specs,
    action_specs_register,
)
from engagement.executors import ACTION_SPECS as ENGAGEMENT_SPECS
from instagram.client import InstagramClient
from instagram.errors import NotSentError
from messaging.executors import ACTION_SPECS as MESSAGING_SPECS
from publishing.executors import ACTION_SPECS as PUBLISHING_SPECS
from safety.graph import CALL_LIMITERS
from safety.policies import META_CEILINGS, META_CEILINGS_BY_KEY, TYPE_POLICY_KEYS
from warmup.phases import CAPABILITIES, NOT_COUNTED, capability_of

ALL_SPECS = (*ENGAGEMENT_SPECS, *MESSAGING_SPECS, *PUBLISHING_SPECS)


@pytest.mark.parametrize("action_type", ActionType.values)
def test_every_action_type_has_a_complete_spec(action_type: str) -> None:
    spec = action_spec(action_type)
    assert spec.action_type == action_type
    assert callable(spec.run) and callable(spec.reconcile)
    assert issubclass(spec.payload, ActionPayload)
    assert dataclasses.is_dataclass(spec.payload) and spec.payload.__dataclass_params__.frozen
    assert spec.capability in CAPABILITIES
    assert spec.policy_key is None or spec.policy_key in TYPE_POLICY_KEYS
    assert isinstance(spec.content, bool) and isinstance(spec.warmup_budget, bool)
    assert isinstance(spec.limits, tuple)
    for use in spec.limits:
        assert isinstance(use, LimitUse)
        assert use.limit in META_CEILINGS_BY_KEY, use


def test_one_spec_per_action_type_declared_by_the_apps_and_no_spec_of_an_unknown_type() -> None:
    declared = [str(spec.action_type) for spec in ALL_SPECS]
    assert sorted(declared) == sorted(set(declared)) == sorted(ActionType.values)
    assert sorted(action_specs()) == sorted(ActionType.values)


def test_the_derived_tables_are_what_they_were_before_the_specs() -> None:
    """NOT_CONTENT_TYPES, the policy keys, the warm-up capabilities and NOT_COUNTED now come from the specs."""
    assert set(NOT_CONTENT_TYPES) == {"sender_action", "messenger_profile"}
    assert set(NOT_COUNTED) == {"sender_action"}
    policy_keys = {str(spec.action_type): spec.policy_key for spec in ALL_SPECS if spec.policy_key}
    assert policy_keys == {
        "comment_reply": ("comment_reply", "comment_replies"),
        "private_reply": ("private_reply", "private_replies"),
        "dm": ("dm", "dms"),
    }
    assert {action_type: capability_of(action_type) for action_type in ActionType.values} == {
        "comment_reply": "comment_reply",
        "dm": "dm_reply",
        "sender_action": "dm_reply",
        "private_reply": "private_reply",
        "hide_comment": "moderation",
        "unhide_comment": "moderation",
        "delete_comment": "moderation",
        "publish": "all",
        "first_comment": "all",
        "messenger_profile": "all",
    }


def test_every_policy_type_key_is_used_by_a_spec_or_a_meta_limit() -> None:
    used = {spec.policy_key[1] for spec in ALL_SPECS if spec.policy_key}
    used |= {ceiling.policy_plural for ceiling in META_CEILINGS if ceiling.policy_plural}
    assert {plural for _, plural in TYPE_POLICY_KEYS} == used


def test_a_payload_is_built_from_the_stored_json_ignoring_keys_the_executor_does_not_read() -> None:
    dm = action_spec("dm").payload.from_json(
        {"recipient_id": "r1", "message": "hi", "automated": True, "conversation_id": 4, "variations": ["x"]}
    )
    assert (dm.recipient_id, dm.message, dm.automated, dm.human_agent) == ("r1", "hi", True, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dm.message = "changed"
    with pytest.raises(TypeError):
        action_spec("comment_reply").payload.from_json({"message": "no comment id"})


# --- Meta's limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("ceiling", META_CEILINGS, ids=lambda ceiling: ceiling.key)
def test_every_meta_limit_is_consumed_by_an_action_spec_or_limited_per_call(ceiling) -> None:
    consumers = [spec.action_type for spec in ALL_SPECS if spec.limit_use(ceiling.key) is not None]
    if ceiling.per_call_api:
        assert not consumers  # counted per call by the account's client, not on the ledger
        assert CALL_LIMITERS[ceiling.per_call_api].limit == ceiling.limit
    else:
        assert consumers, f"{ceiling.name} is consumed by no action type"


class _Recording:
    """A client that records which methods a reconciler or a read calls (and finds nothing)."""

    def __init__(self) -> None:
        self.called: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            self.called.append(name)
            if name == "message_get":
                return {"id": "m1", "from": {"id": "someone else"}, "message": "hello"}
            return [{"id": "c1"}] if name in {"conversations_list", "conversation_messages"} else []

        return call


CONVERSATIONS_API_METHODS = {"conversations_list", "conversation_messages", "message_get"}


@pytest.mark.parametrize("action_type", ["dm", "private_reply"])
def test_the_conversations_api_is_really_called_by_the_dm_and_private_reply_reconcilers(
    action_type, make_account, workspace
) -> None:
    account = make_account(workspace)
    action = Action(account=account, action_type=action_type, payload={"comment_id": "c", "recipient_id": "r"})
    action.payload["message"] = "hello"
    recording = _Recording()
    assert action_spec(action_type).reconcile(action, recording) == Reconciliation(False, {})  # type: ignore[arg-type]
    assert CONVERSATIONS_API_METHODS & set(recording.called)


@pytest.mark.parametrize(
    ("method", "arguments"),
    [
        ("conversations_list", {"user_id": "r"}),
        ("conversation_messages", {"conversation_id": "c1"}),
        ("message_get", {"message_id": "m1"}),
    ],
)
def test_each_conversations_api_call_asks_the_per_call_limiter_first(method: str, arguments: dict[str, str]) -> None:
    asked: list[str] = []
    client = InstagramClient(access_token="t", max_retries=0, before_call=asked.append)
    with pytest.raises(NotSentError):  # the test settings' Instagram refuses every connection
        getattr(client, method)(**arguments)
    assert asked == ["conversations"]
    assert "conversations" in CALL_LIMITERS


def test_a_second_different_spec_for_a_type_is_refused() -> None:
    spec: ActionSpec[Any] = action_spec("dm")
    with pytest.raises(ValueError, match="already has a spec"):
        action_specs_register([dataclasses.replace(spec, capability="all")])
    action_specs_register([spec])  # the same one again is fine
