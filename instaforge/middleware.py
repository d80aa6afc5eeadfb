"""Request input no view should ever see: NUL characters.

PostgreSQL refuses a NUL (``\\x00``) in any text value, stored or compared, so a
NUL that reaches a query is a server error there (SQLite keeps it silently).
Django's form ``CharField`` already refuses it (``ProhibitNullCharactersValidator``),
but much input never passes a form field: search boxes and filters read from
``request.GET``, buttons read from ``request.POST``, URL segments (an
invitation's token), the session cookie, uploaded files' names. No browser
sends a NUL when a person types, so a request carrying one is refused here,
whole, before any view runs: one place closes the class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

NUL = "\x00"
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(pairs: Iterable[tuple[str, object]]) -> bool:
    return any(NUL in key or (isinstance(value, str) and NUL in value) for key, value in pairs)


def request_has_nul(request: HttpRequest) -> bool:
    """Whether the path, the query, the cookies or a form body (fields and file names) holds a NUL."""
    if NUL in request.path_info or _has_nul(request.GET.items()) or _has_nul(request.COOKIES.items()):
        return True
    if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
        # Parsing now is what CsrfViewMiddleware does anyway for a form; a JSON body (Meta's webhooks,
        # the calendar's moves) stays unread, for the view to read raw.
        if any(_has_nul((key, value) for value in request.POST.getlist(key)) for key in request.POST):
            return True
        return any(
            NUL in key or any(NUL in (upload.name or "") for upload in uploads)
            for key, uploads in request.FILES.lists()
        )
    return False


class NulCharacterMiddleware:
    """Answers 400 to a request with a NUL anywhere a view could read it as text."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request_has_nul(request):
            return HttpResponseBadRequest(
                "The request contains a NUL character, which no page of InstaForge accepts.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
