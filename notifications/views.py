"""Pages of the notification centre: every notification of the user (read and unread,
filtered, paged), opening one, marking read (htmx, no reload), the bell in the top bar, and
the preferences. Only ever the user's own notifications, and only those they may still read
(selectors.py); another person's is 404.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from notifications import selectors
from notifications.forms import CentreFilter, PreferencesForm
from notifications.models import Kind, Notification
from notifications.services import notify, preferences
from portal.web import GET_POST, HtmxRequest, call_service, page_of, posted


def _changed(response: HttpResponse) -> HttpResponse:
    """Tell the bell to count again (it listens for this event)."""
    return trigger_client_event(response, "notifications-changed")


def _centre_context(request: HtmxRequest) -> dict:
    wanted = CentreFilter(request.GET).wanted()
    unread_only, kind = wanted.get("show") == "unread", wanted.get("kind", "")
    rows = selectors.centre_rows(request.user, unread_only=unread_only, kind=kind)
    return {
        "page": page_of(request, rows),
        "unread_only": unread_only,
        "kind": kind,
        "kinds": Kind.choices,
        "query": urlencode(wanted),  # only the cleaned filters, for links that keep them
    }


@require_GET
def centre(request: HtmxRequest) -> HttpResponse:
    template = "notifications/centre.html"
    if request.htmx and request.htmx.target == "notification-list":
        template += "#notification-list"
    return render(request, template, _centre_context(request))


@require_POST
def read_all(request: HtmxRequest) -> HttpResponse:
    count = notify.mark_all_read(request.user)
    if request.htmx:
        context = _centre_context(request)
        return _changed(render(request, "notifications/centre.html#notification-list", context))
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return redirect("notifications:centre")


def _own(request: HtmxRequest, pk: int) -> Notification:
    rows = selectors.centre_rows(request.user)
    return get_object_or_404(rows, pk=pk)


@require_POST
def read_one(request: HtmxRequest, pk: int) -> HttpResponse:
    notification = _own(request, pk)
    notify.mark_read(notification)
    if request.htmx:
        notification.refresh_from_db(fields=["read_at"])
        context = {"notification": notification}
        return _changed(render(request, "notifications/centre.html#notification-row", context))
    return redirect("notifications:centre")


@require_GET
def open_one(request: HtmxRequest, pk: int) -> HttpResponse:
    """Mark the notification read and go where it points (a path inside Quorum only)."""
    notification = _own(request, pk)
    notify.mark_read(notification)
    url = notification.url
    if not (url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=None)):
        return redirect("notifications:centre")
    return redirect(url)


# An expired session answers 204 (htmx swaps nothing) rather than the login page, which
# the poll would put in the top bar; the counts are only ever the user's own.
@login_not_required
@require_GET
def bell(request: HtmxRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return HttpResponse(status=204)
    return render(request, "notifications/_bell.html")


@GET_POST
def preferences_page(request: HtmxRequest) -> HttpResponse:
    user = request.user
    current = preferences.preferences_of(user)
    form = PreferencesForm(
        posted(request), preferences=current, webhook_url=preferences.webhook_url_of(user)
    )
    if form.is_valid():
        kinds, url = form.kinds(), form.cleaned_data["webhook_url"]
        if call_service(form, preferences.save_preferences, user, kinds=kinds, webhook_url=url):
            messages.success(request, "Your notification preferences are saved.")
            return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form})
