"""The product's Prometheus series that processes count as work happens (prometheus-client).

Counters and histograms only: what is read from the database (accounts by state, risk scores,
backlogs, heartbeats) is computed at scrape time by ``observability.collectors``, so any host
answers the same. Every label is bounded: a fixed vocabulary, a status code, or a path template
(``graph_endpoint``), never an id. Each increment is a dictionary lookup and an addition under a
lock (a microsecond or two), cheap enough for the webhook path and the dispatcher's senders.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment of every process on a host (web,
worker, dispatcher), prometheus-client keeps these values in files there and ``/metrics`` sums
them over the host's processes; without it each process counts in its own memory.

This module imports no app: every layer may count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from prometheus_client import Counter, Histogram

# Seconds: from a fraction of a second (a dispatcher keeping up) to hours (a deferred backlog).
LAG_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
GRAPH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

ACTIONS = Counter("instaforge_actions", "Actions by type and outcome.", ["type", "outcome"])
ACTION_LAG = Histogram(
    "instaforge_action_lag_seconds", "From an action's due time to its being sent (successes).", buckets=LAG_BUCKETS
)
GATE_DECISIONS = Counter(
    "instaforge_gate_decisions", "The safety gate's verdicts, by a short category of reason.", ["verdict", "reason"]
)
GRAPH_REQUESTS = Counter(
    "instaforge_graph_requests",
    "Requests to the Graph API by endpoint template and HTTP status.",
    ["endpoint", "status"],
)
GRAPH_REQUEST_SECONDS = Histogram(
    "instaforge_graph_request_seconds", "Duration of Graph API requests.", ["endpoint"], buckets=GRAPH_BUCKETS
)
GRAPH_RATE_LIMITED = Counter("instaforge_graph_rate_limited", "Rate-limit errors from Meta by error code.", ["code"])
WEBHOOK_DELIVERIES = Counter("instaforge_webhook_deliveries", "Webhook deliveries from Meta by result.", ["result"])
WEBHOOK_ENTRIES = Counter("instaforge_webhook_entries", "Changes and messaging items received, by field.", ["field"])
# Labelled by the kinds of privacy.retention (a fixed list: inbound_events, actions, messages, …).
RETENTION_PRUNED = Counter("instaforge_retention_pruned", "Rows deleted by the retention prune, by kind.", ["kind"])
META_CALLBACKS = Counter(
    "instaforge_meta_callbacks",
    "Meta's deauthorize and data deletion callbacks by callback and result.",
    ["callback", "result"],
)
INBOUND_LAG = Histogram(
    "instaforge_inbound_lag_seconds", "From an inbound event's receipt to its being handled.", buckets=LAG_BUCKETS
)

# Webhook fields Meta documents for Instagram; anything else is counted as "other" (Meta could send any name).
WEBHOOK_FIELDS = frozenset(
    {
        "comments",
        "live_comments",
        "mentions",
        "story_insights",
        "messaging",
        "messages",
        "message_edit",
        "message_reactions",
        "messaging_postbacks",
        "messaging_seen",
        "messaging_referral",
        "messaging_handover",
        "messaging_optins",
    }
)
OTHER = "other"

_VERSION = re.compile(r"^v\d+(\.\d+)?$")
_EDGE = re.compile(r"^[a-z_]{1,40}$")


def graph_endpoint(url: str) -> str:
    """A bounded template of a Graph API URL's path: ``/{id}/replies``, ``/me/media``, ``/oauth/access_token``.

    The API version goes; a segment that is not a lower-case edge name (ids, base64 message ids, anything
    else) becomes ``{id}``. The query string (the access token) is never looked at.
    """
    try:
        path = urlsplit(url).path
    except ValueError:  # the request itself will fail, as a network error; the label must not
        return "/{invalid}"
    segments = [segment for segment in path.split("/") if segment]
    if segments and _VERSION.match(segments[0]):
        segments = segments[1:]
    return "/" + "/".join(segment if _EDGE.match(segment) else "{id}" for segment in segments)


def webhook_entries_count(fields: Iterable[str]) -> None:
    """Count the changes of one delivery by field (an unknown field as ``other``)."""
    tally: dict[str, int] = {}
    for field in fields:
        label = field if field in WEBHOOK_FIELDS else OTHER
        tally[label] = tally.get(label, 0) + 1
    for label, count in tally.items():
        WEBHOOK_ENTRIES.labels(field=label).inc(count)
