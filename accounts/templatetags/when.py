"""``{{ value|when }}``: a time as members read it, in a named zone, with the date when it is not today.

Every time a page shows goes through this filter so that a member in Paris and a member in New York
each read the same moment in their own zone and always see which zone that is:

- today: ``14:05 CET``; the day before or after: ``yesterday 14:05 CET``, ``tomorrow 14:05 CET``;
- another day of the same year: ``Tue 8 Dec 09:30 CET``; another year: ``8 Dec 2025 09:30 CET``.

"Today" is today in the zone shown. ``{{ value|when }}`` uses the viewer's zone (activated per request
by ``accounts.middleware.TimeZoneMiddleware`` from ``User.time_zone``); ``{{ value|when:account }}``
uses an Instagram account's zone, for pages about its schedule (warm-up, active hours, the calendar),
and names that zone by its city ("12:00 Paris") so nobody mistakes it for their own; a zone's IANA name
(``{{ value|when:"Asia/Tokyo" }}``) works too. The viewer's zone is named by its abbreviation ("CET",
"EST") or, for zones that have none, its city. The output is a ``<time>`` element whose ``datetime`` is
the ISO moment and whose title gives the full date, the zone's IANA name and the time in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.templatetags.tz import do_timezone
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.zones import (
    UTC,
    as_aware,
    resolve_zone,
    when_text,
    when_words,
    zone_city,
    zone_key,
    zone_names,
)

register = template.Library()


def full_text(value: dt.datetime | dt.date, *, zone: dt.tzinfo) -> str:
    """The title of a ``<time>``: "Tuesday 8 December 2026, 09:30:00 Europe/Paris (08:30:00 UTC)"."""
    if not isinstance(value, dt.datetime):
        return f"{value.strftime('%A')} {value.day} {value.strftime('%B')} {value.year}"
    aware = as_aware(value)
    local = aware.astimezone(zone)
    in_utc = aware.astimezone(UTC)
    local_text = (
        f"{local.strftime('%A')} {local.day} {local.strftime('%B')} {local.year}, {local:%H:%M:%S} {zone_key(zone)}"
    )
    if zone_key(zone) in {"UTC", "Etc/UTC"}:
        return local_text
    utc_date = "" if in_utc.date() == local.date() else f"{in_utc.day} {in_utc.strftime('%b')} "
    return f"{local_text} ({utc_date}{in_utc:%H:%M:%S} UTC)"


def when_html(
    value: dt.datetime | dt.date | None, where: Any = None, *, now: dt.datetime | None = None
) -> SafeString | str:
    """The ``<time>`` element for a value; "" for None so ``{{ x|when|default:"never" }}`` works."""
    if value is None or value == "":
        return ""
    if not isinstance(value, dt.date):
        return str(value)
    zone = resolve_zone(where)
    per_account = where is not None and where != "" and not isinstance(where, (str, dt.tzinfo))
    label = zone_city(zone) if per_account else None
    text = when_text(value, zone=zone, now=now or timezone.now(), label=label)
    if isinstance(value, dt.datetime):
        iso = as_aware(value).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    else:
        iso = value.isoformat()
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, full_text(value, zone=zone), text)


@register.filter(name="when", is_safe=True)
def when(value: Any, where: Any = None) -> SafeString | str:
    """``{{ value|when }}`` in the viewer's zone, ``{{ value|when:account }}`` in an account's zone."""
    return when_html(value, where)


@register.filter(name="when_text", is_safe=False)
def when_plain(value: Any, where: Any = None) -> str:
    """The same words without the ``<time>`` element, for attributes and plain-text places."""
    if not isinstance(value, dt.date):
        return "" if value is None else str(value)
    if not isinstance(value, dt.datetime):
        return when_text(value, zone=resolve_zone(where), now=timezone.now())
    return when_words(value, where=where)


@register.simple_tag
def current_zone_name() -> str:
    """The viewer's zone by IANA name, for a page's footer or settings hint."""
    return zone_key(timezone.get_current_timezone())


@register.simple_tag
def time_zone_datalist() -> SafeString:
    """The browser's searchable list of IANA zones for an input with ``list="time-zone-names"`` (no script)."""
    options = format_html_join("", '<option value="{}">', ((name,) for name in zone_names()))
    return format_html('<datalist id="time-zone-names">{}</datalist>', options)


@register.simple_tag
def now_in(where: Any = None) -> SafeString | str:
    """``{% now_in account %}``: the time it is now in the account's (or the viewer's) zone."""
    return when_html(timezone.now(), where)


@register.filter(name="zone_city")
def zone_city_of(where: Any) -> str:
    """``{{ account|zone_city }}``: the account's zone by its city ("Paris"), where a time stands without a date."""
    return zone_city(resolve_zone(where))


@register.filter(name="in_zone")
def in_zone(value: Any, where: Any = None) -> Any:
    """``{{ value|in_zone:account|date:"H:i" }}``: a datetime moved to the account's zone *and kept there*.

    Django's ``date`` filter converts an aware value to the viewer's zone first, whatever zone it carries;
    a form field prefilled with the account's local time (``datetime-local``, the calendar's move) needs it
    to stay in the account's zone. An unknown zone name counts as UTC, as everywhere else.
    """
    if not isinstance(value, dt.datetime):
        return value
    return do_timezone(as_aware(value), resolve_zone(where))
