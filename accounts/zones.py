"""The IANA time zones members may choose, and the words a time is shown in (see ``accounts.templatetags.when``).

The words live here, below the features, so that a service building a sentence a member reads (a reply
window's closing time) says a time the way the pages do, in the zone active for the request.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache
from typing import Any

from django.utils import timezone

UTC = dt.UTC


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Every IANA name this system's tz database knows, sorted (the choices of the settings pages' lists).

    The legacy aliases tzdata still ships ("US/Eastern", "Etc/GMT+5") are left out of the list a member picks
    from, since their names mislead ("Etc/GMT+5" is five hours *behind* UTC); they still validate.
    """
    legacy = ("Etc/", "US/", "SystemV/")
    names = {name for name in zoneinfo.available_timezones() if not name.startswith(legacy) and "/" in name}
    return tuple(sorted(names | {"UTC"}))


# Files of the tz database directory that are not zones a person lives in.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return (frozenset(zoneinfo.available_timezones()) - NOT_ZONES) | {"UTC"}


def zone_valid(name: str) -> bool:
    """Whether ``name`` is an IANA zone of this system's tz database (exact spelling: "Europe/Paris")."""
    return name in _known()


@lru_cache(maxsize=512)
def zone_named(name: str) -> dt.tzinfo | None:
    """The zone of an IANA name, or None for an unknown or empty name (a page must never fail on a bad name)."""
    if not name or not zone_valid(name):
        return None
    return zoneinfo.ZoneInfo(name)


def zone_key(zone: dt.tzinfo) -> str:
    """The IANA name of a zone ("Europe/Paris"), or its ``str`` for fixed offsets."""
    return str(getattr(zone, "key", None) or zone)


def zone_city(zone: dt.tzinfo) -> str:
    """The place part of an IANA name: "Europe/Paris" -> "Paris", "America/Argentina/Buenos_Aires" -> "Buenos Aires"."""
    key = zone_key(zone)
    if key.upper() in {"UTC", "ETC/UTC", "GMT", "ETC/GMT", "UNIVERSAL", "ZULU"}:
        return "UTC"
    return key.rsplit("/", 1)[-1].replace("_", " ")


def zone_abbreviation(moment: dt.datetime) -> str:
    """The abbreviation in force at that moment ("CET", "CEST"), or the city for zones that have none ("+03")."""
    name = moment.tzname() or ""
    if name and name[0].isalpha():
        return name
    if moment.tzinfo is not None:
        return zone_city(moment.tzinfo)
    return "UTC"


def resolve_zone(where: Any = None) -> dt.tzinfo:
    """The zone a value is shown in: an account's (or anything with ``time_zone``), an IANA name, or the viewer's."""
    if where is None or where == "":
        return timezone.get_current_timezone()
    if isinstance(where, dt.tzinfo):
        return where
    name = where if isinstance(where, str) else getattr(where, "time_zone", "")
    return zone_named(name or "") or UTC


def as_aware(value: dt.datetime | dt.date) -> dt.datetime:
    """An aware datetime: naive values are taken as UTC (how the project stores them), dates as their midnight UTC."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def when_text(value: dt.datetime | dt.date, *, zone: dt.tzinfo, now: dt.datetime, label: str | None = None) -> str:
    """The words of the rule in the module's docstring, for ``value`` seen from ``now`` in ``zone``.

    ``label`` names the zone; by default its abbreviation at that moment (so summer and winter differ).
    """
    today = as_aware(now).astimezone(zone).date()
    if not isinstance(value, dt.datetime):
        return day_text(value, today=today)
    local = as_aware(value).astimezone(zone)
    name = label if label is not None else zone_abbreviation(local)
    clock = local.strftime("%H:%M")
    days = (local.date() - today).days
    if days == 0:
        return f"{clock} {name}"
    if days == 1:
        return f"tomorrow {clock} {name}"
    if days == -1:
        return f"yesterday {clock} {name}"
    day = local.day
    if local.year == today.year:
        return f"{local.strftime('%a')} {day} {local.strftime('%b')} {clock} {name}"
    return f"{day} {local.strftime('%b')} {local.year} {clock} {name}"


def day_text(day: dt.date, *, today: dt.date) -> str:
    """A calendar date (no time, so no zone): "today", "tomorrow", "Tue 8 Dec", "8 Dec 2025"."""
    days = (day - today).days
    if days in {-1, 0, 1}:
        return {-1: "yesterday", 0: "today", 1: "tomorrow"}[days]
    if day.year == today.year:
        return f"{day.strftime('%a')} {day.day} {day.strftime('%b')}"
    return f"{day.day} {day.strftime('%b')} {day.year}"


def when_words(value: dt.datetime, *, where: Any = None, now: dt.datetime | None = None) -> str:
    """A time in words for a sentence: the viewer's zone (or an account's, named by city), as the pages say it."""
    zone = resolve_zone(where)
    per_account = where is not None and where != "" and not isinstance(where, (str, dt.tzinfo))
    return when_text(value, zone=zone, now=now or timezone.now(), label=zone_city(zone) if per_account else None)
