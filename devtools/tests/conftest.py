"""Fixtures of the devtools tests: the publishing tests' media folder (the stress run and the demo upload media)."""

from publishing.tests.conftest import media_root  # noqa: F401 (a fixture, used by name)
