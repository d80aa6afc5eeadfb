"""deploy/.env.example lists every variable the product reads: an operator who copies it sees every setting.

The variables are the ones instaforge/tests/test_configuration_docs.py finds in the source (settings.py,
the Graph client, deploy/gunicorn.conf.py, ...). A required one is a plain ``NAME=value`` line; an optional
one is commented out with its default (``# NAME=default``).
"""

from __future__ import annotations

import re
from pathlib import Path

from instaforge.tests.test_configuration_docs import ROOT, product_environment

ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
# A setting line, live or commented out: ``NAME=...`` or ``# NAME=...`` (prose comments never start so).
SETTING_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")
# Set by manage.py, wsgi.py and asgi.py themselves: not the operator's to choose.
NOT_OPERATOR_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def listed_variables(text: str) -> list[str]:
    """The variable of each setting line, in order, repeats included."""
    return [match.group(1) for line in text.splitlines() if (match := SETTING_LINE.match(line.strip()))]


def test_the_parser_reads_live_and_commented_settings_but_not_prose(tmp_path: Path) -> None:
    example = tmp_path / ".env"
    example.write_text(
        "# Secrets: generate each one\n"
        "#   SECRET_KEY:  python -c '...'\n"
        "SECRET_KEY=\n"
        "# LOG_FORMAT=json\n"
        "#LOG_LEVEL=INFO\n"
        "# (comma-separated, newest first)\n"
    )
    assert listed_variables(example.read_text()) == ["SECRET_KEY", "LOG_FORMAT", "LOG_LEVEL"]


def test_every_variable_the_product_reads_is_listed_once_in_the_env_example() -> None:
    readers, _ = product_environment()
    # The scan must see the settings and the gunicorn configuration, or it proves nothing.
    assert {"SECRET_KEY", "DATABASE_URL", "GUNICORN_WORKERS"} <= set(readers)
    listed = listed_variables(ENV_EXAMPLE.read_text(encoding="utf-8"))

    repeated = sorted({name for name in listed if listed.count(name) > 1})
    assert repeated == [], f"listed twice in deploy/.env.example: {repeated}"
    wanted = set(readers) - NOT_OPERATOR_SETTINGS
    missing = {name: sorted(readers[name]) for name in sorted(wanted - set(listed))}
    assert missing == {}, f"read but not in deploy/.env.example (add a line, commented out with its default): {missing}"
    stale = sorted(set(listed) - wanted)
    assert stale == [], f"in deploy/.env.example but read nowhere (remove the line): {stale}"
