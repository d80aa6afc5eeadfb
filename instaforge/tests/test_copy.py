"""Copy that reads as written by a person: the admin's plurals, and no label made from a field's name.

Django derives a model's plural by adding "s" ("Webhook deliverys", "Messaging settingss") and a field's
label from its name ("Ai enabled", "Classifier ai"). Both read as machine-made; these tests walk every
registered admin model and every form of the product and fail on the telltale shapes, whatever the model.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.forms.utils import pretty_name

# The product's apps (third-party apps keep their own copy).
PRODUCT_APPS = (
    "accounts",
    "actions",
    "alerts",
    "analytics",
    "engagement",
    "instagram",
    "integrations",
    "messaging",
    "observability",
    "privacy",
    "publishing",
    "safety",
    "warmup",
)
# Words that are plural already: an "s" more is wrong.
UNCOUNTABLE = ("media", "data", "settings", "usage", "information", "feedback", "analysis")
# Abbreviations written in capitals in English; in lower case in a label they show the label was derived.
ACRONYMS = frozenset({"ai", "api", "csv", "dm", "dms", "id", "ids", "ig", "igsid", "json", "url", "urls", "utc"})


def plural_problem(singular: str, plural: str) -> str:
    """Why ``plural`` is a wrong plural (of ``singular``), or "" when it reads right."""
    last = re.sub(r"[^\w-]", "", plural.split()[-1]) if plural.split() else ""
    if re.search(r"[^aeiou]ys$", last, re.IGNORECASE):
        return f"“{plural}”: a consonant + y takes -ies"
    if re.search(r"(ss|xs|zs|chs|shs)$", last, re.IGNORECASE):
        return f"“{plural}”: a word ending in s, x, z, ch or sh takes -es"
    if any(last.lower() == word + "s" for word in UNCOUNTABLE):
        return f"“{plural}”: “{last[:-1]}” has no plural in -s"
    return ""


def derived_label_problem(label: str) -> str:
    """Why a label reads as made from a field's name ("Ai enabled"), or ""."""
    words = re.findall(r"[A-Za-z]+", label)
    # "IDs" is written right: capitals, then the plural's s.
    lowered = [
        word for word in words if word.lower() in ACRONYMS and word.removesuffix("s") != word.upper().removesuffix("S")
    ]
    if lowered:
        return f"“{label}” writes {', '.join(lowered)} in lower case"
    if "_" in label:
        return f"“{label}” shows an underscore"
    return ""


@pytest.mark.parametrize(
    ("singular", "plural", "wrong"),
    [
        ("webhook delivery", "webhook deliverys", True),
        ("messaging settings", "messaging settingss", True),
        ("global kill switch", "global kill switchs", True),
        ("account status", "account statuss", True),
        ("sandbox outbox", "sandbox outboxs", True),
        ("post media", "post medias", True),
        ("message analysis", "message analysiss", True),
        ("webhook delivery", "webhook deliveries", False),
        ("global kill switch", "global kill switches", False),
        ("messaging settings", "messaging settings", False),
        ("key", "keys", False),
        ("account", "review queue (suspended accounts)", False),
        ("email address", "email addresses", False),
    ],
)
def test_the_plural_rule(singular: str, plural: str, wrong: bool) -> None:
    assert bool(plural_problem(singular, plural)) is wrong


@pytest.mark.parametrize(
    ("label", "wrong"),
    [
        ("Ai enabled", True),
        ("Classifier ai", True),
        ("Url", True),
        ("Dm rule", True),
        ("Media ids", True),
        ("AI base URL", False),
        ("Media IDs", False),
    ],
)
def test_the_label_rule(label: str, wrong: bool) -> None:
    assert bool(derived_label_problem(label)) is wrong


# The apps whose model fields this check covers; instagram, actions, accounts and analytics still have
# derived "… id" labels on fields no form shows (admin read-only ids), left to their owners.
LABELLED_APPS = ("alerts", "engagement", "integrations", "messaging", "publishing", "safety", "warmup")


def test_every_admin_model_has_a_readable_plural() -> None:
    problems = [
        f"{model._meta.label}: {problem}"
        for model in admin.site._registry
        if (problem := plural_problem(str(model._meta.verbose_name), str(model._meta.verbose_name_plural)))
    ]
    assert problems == []


def test_every_model_of_a_labelled_app_has_a_readable_plural() -> None:
    problems = [
        f"{model._meta.label}: {problem}"
        for app in (*LABELLED_APPS, "sandbox")
        for model in apps.get_app_config(app).get_models()
        if (problem := plural_problem(str(model._meta.verbose_name), str(model._meta.verbose_name_plural)))
    ]
    assert problems == []


def test_no_model_field_of_a_labelled_app_has_a_label_made_from_its_name() -> None:
    problems = [
        f"{model._meta.label}.{field.name}: {problem}"
        for app in LABELLED_APPS
        for model in apps.get_app_config(app).get_models()
        for field in model._meta.get_fields()
        if not field.auto_created
        and hasattr(field, "verbose_name")
        and (problem := derived_label_problem(str(field.verbose_name)))
    ]
    assert problems == []


def _product_forms() -> list[type[forms.BaseForm]]:
    found: list[type[forms.BaseForm]] = []
    for app in PRODUCT_APPS:
        for module_name in (f"{app}.forms",):
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue
            found += [
                value
                for value in vars(module).values()
                if inspect.isclass(value)
                and issubclass(value, forms.BaseForm)
                and value.__module__ == module_name
                and hasattr(value, "base_fields")
            ]
    return found


def test_no_form_of_the_product_shows_a_label_made_from_a_field_name() -> None:
    checked = _product_forms()
    assert len(checked) >= 10
    problems = []
    for form_class in checked:
        base_fields: dict[str, forms.Field] = getattr(form_class, "base_fields", {})
        for name, field in base_fields.items():
            label = field.label if field.label is not None else pretty_name(name)
            if problem := derived_label_problem(str(label)):
                problems.append(f"{form_class.__module__}.{form_class.__name__}.{name}: {problem}")
    assert problems == []


# --- One style for destructive buttons --------------------------------------------------------------------

TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
DESTRUCTIVE = re.compile(r"\b(delete|remove|disconnect|revoke|erase|deactivate|leave)\b", re.IGNORECASE)
BUTTONS = re.compile(
    r"<button\b(?P<attrs>[^>]*)>(?P<text>.*?)</button>|<a\b(?P<link>[^>]*\bbtn\b[^>]*)>(?P<label>.*?)</a>", re.S
)
TEMPLATE_CODE = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|<[^>]+>", re.S)


def destructive_without_danger(template: str) -> list[str]:
    """The buttons (and links styled as buttons) of a template that end something but lack the danger style."""
    found = []
    for match in BUTTONS.finditer(template):
        attrs = match.group("attrs") if match.group("attrs") is not None else match.group("link")
        text = " ".join(TEMPLATE_CODE.sub(" ", match.group("text") or match.group("label") or "").split())
        if DESTRUCTIVE.search(text) and not re.search(r"class=\"[^\"]*\bdanger\b", attrs):
            found.append(text)
    return found


def test_the_destructive_button_rule() -> None:
    assert destructive_without_danger('<button type="submit" class="link-button">Delete</button>') == ["Delete"]
    assert destructive_without_danger('<a class="btn" href="x">Remove {{ m }}</a>') == ["Remove"]
    assert destructive_without_danger('<button class="danger">Delete</button><button>Save</button>') == []
    assert destructive_without_danger('<a href="x">Delete</a>') == []  # a plain link is not a button


def test_every_destructive_button_has_the_danger_style() -> None:
    problems = {
        str(path.relative_to(TEMPLATES_DIR)): found
        for path in sorted(TEMPLATES_DIR.rglob("*.html"))
        if (found := destructive_without_danger(path.read_text()))
    }
    assert problems == {}
