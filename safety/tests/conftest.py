"""Fixtures of the safety engine's tests: the safety settings' cache, emptied before each test or turned on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from safety.selectors import account_safety_cache_clear


@pytest.fixture(autouse=True)
def _safety_settings_cache_emptied() -> Iterator[None]:
    """Each test starts without cached safety settings (a workspace's id may be another test's, rolled back).

    With production cache times (INSTAFORGE_TEST_PRODUCTION_CACHES=1) the cache is on; else it is off anyway.
    """
    account_safety_cache_clear()
    yield
    account_safety_cache_clear()


@pytest.fixture
def safety_settings_cached(settings: Settings) -> float:
    """The production cache time, whatever the run's settings (``safety.selectors.account_safety``)."""
    settings.SAFETY_SETTINGS_CACHE_SECONDS = 1.0
    return 1.0
