"""``all_workspaces`` (the tenancy escape hatch of accounts/tenancy.py) only where code truly spans workspaces.

Code that runs inside a workspace scope (a request, a task that entered ``workspace_scope``) uses the scoped
``objects`` manager, which fails closed. A product module (tests and migrations aside) that names
``all_workspaces`` is listed below with the reason it crosses tenants; a module not listed fails this test,
and so does an entry whose module no longer needs it. devtools and the sandbox are no product apps.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The product apps, as the import contracts name them (.importlinter).
PRODUCT_APPS = (
    "accounts",
    "actions",
    "alerts",
    "analytics",
    "engagement",
    "instaforge",
    "instagram",
    "integrations",
    "messaging",
    "observability",
    "privacy",
    "publishing",
    "safety",
    "warmup",
)

ALLOWED: dict[str, str] = {
    "accounts.admin": "the operators' admin spans workspaces (the latest transitions of every account)",
    "accounts.middleware": "finds the user's memberships, which choose the workspace, before any is in scope",
    "accounts.selectors": "Meta's callbacks name an Instagram user, whichever workspace holds the account",
    "accounts.services": "lifecycle transitions and tokens are changed by the dispatcher, sweeps and the admin",
    "accounts.views": "switching workspace checks a membership of a workspace that is not in scope yet",
    "alerts.conditions": "the alert sweep reads the conditions of every workspace and the platform",
    "analytics.insights": "the insights schedule walks the connected accounts of every workspace",
    "alerts.services": "the alert sweep opens, resolves and notifies the alerts of every workspace and the platform",
    "actions.dispatcher.claim": "the dispatcher claims the due actions of every workspace",
    "actions.dispatcher.recovery": "the dispatcher's recovery sweeps the stale actions of every workspace",
    "actions.dispatcher.sending": "the dispatcher's senders run the actions of every workspace",
    "actions.services": "the ledger's writes are called by the dispatcher and sweeps, outside any scope",
    "engagement.models": "a rule's validation (active rules per account) also runs in the admin, with no scope",
    "instagram.backfill": "the backfill schedule walks the connected accounts of every workspace",
    "integrations.services": "CRM deliveries are sent and retried by sweeps over every workspace",
    "messaging.automation": "flows resumed by a sweep over every workspace; settings and members by workspace id",
    "messaging.events": "conversation events are recorded from the dispatcher's executors, outside any scope",
    "messaging.executors": "executors run in the dispatcher, outside any scope",
    "messaging.ice_breakers": "saved from the admin and sent by the dispatcher, outside any scope",
    "messaging.models": "a rule's or flow's validation also runs in the admin, with no scope",
    "messaging.selectors": "prefetches the decisions of messages already read through the scoped manager",
    "observability.collectors": "/metrics counts the accounts, actions and CRM deliveries of every workspace",
    "observability.console": "the operators' console (the admin's index) reads the figures of every workspace",
    "observability.readiness": "/readyz finds the oldest overdue action of every workspace",
    "privacy.erasure": "a follower's erasure spans every workspace; an account's runs from Meta's callback, unscoped",
    "privacy.retention": "the retention schedule prunes old rows of every workspace by age, outside any scope",
    "publishing.forms": "an empty queryset, replaced with the workspace's accounts when the form is built",
    "publishing.pipeline": "the publishing steps run in the dispatcher, outside any scope",
    "publishing.services": "post steps run in the dispatcher; a signed media URL is fetched by Meta with no session",
    "safety.admin": "the operators' admin spans workspaces",
    "safety.gate": "the gate runs in the dispatcher, outside any scope",
    "safety.patterns": "the pattern detector runs in the dispatcher's gate, outside any scope",
    "safety.risk": "the risk assessor runs in the dispatcher's gate and sweeps, outside any scope",
    "safety.selectors": "the gate's and the admin's reads, outside any scope",
    "safety.services": "safety's writes follow the dispatcher's outcomes, outside any scope",
    "warmup.gate": "the warm-up's part of the gate runs in the dispatcher, outside any scope",
    "warmup.services": "the warm-up schedule advances the plans of every workspace; operators act from the admin",
}


def escape_hatch_lines(tree: ast.AST) -> list[int]:
    """Lines that use ``all_workspaces``: as an attribute (``Model.all_workspaces``) or through ``getattr``."""
    return sorted(node.lineno for node in ast.walk(tree) if isinstance(node, ast.expr) and _is_escape_hatch(node))


def _is_escape_hatch(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "all_workspaces"
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and node.args[1].value == "all_workspaces"
    )


def product_modules() -> dict[str, Path]:
    """Every module of the product apps, tests and migrations aside, by dotted name."""
    modules = {}
    for app in PRODUCT_APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def escape_hatch_users() -> dict[str, list[int]]:
    users = {}
    for name, path in product_modules().items():
        lines = escape_hatch_lines(ast.parse(path.read_text(), filename=str(path)))
        if lines:
            users[name] = lines
    return users


def test_all_workspaces_is_used_only_in_allow_listed_modules() -> None:
    unlisted = {name: lines for name, lines in escape_hatch_users().items() if name not in ALLOWED}
    assert not unlisted, (
        "all_workspaces outside the allow-list (module: lines). Inside a workspace scope use the scoped "
        f"`objects` manager; code that truly spans workspaces is listed in ALLOWED with why: {unlisted}"
    )


def test_every_allow_listed_module_still_needs_the_escape_hatch() -> None:
    stale = sorted(set(ALLOWED) - set(escape_hatch_users()))
    assert not stale, f"no longer use all_workspaces: remove them from ALLOWED: {stale}"
    assert all(reason.strip() and "\n" not in reason for reason in ALLOWED.values())


def test_the_scan_finds_attribute_and_getattr_uses_and_skips_tests_and_migrations() -> None:
    source = (
        "from accounts.models import InstagramAccount\n"
        "InstagramAccount.objects.filter(pk=1)\n"
        "InstagramAccount.all_workspaces.filter(pk=1)\n"
        "getattr(InstagramAccount, 'all_workspaces').none()\n"
        "all_workspaces = None  # a name of its own, not the manager\n"
    )
    assert escape_hatch_lines(ast.parse(source)) == [3, 4]
    modules = product_modules()
    assert "engagement.services" in modules and "accounts.tenancy" in modules
    assert not [name for name in modules if ".tests" in name or ".migrations" in name]


def test_the_product_apps_are_those_of_the_import_contracts() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    contract = config["importlinter:contract:product-without-devtools"]
    assert set(contract["source_modules"].split()) == set(PRODUCT_APPS)
