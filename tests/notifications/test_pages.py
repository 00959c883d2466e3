"""The notification centre's pages and API: only ever one's own notifications, and only those
one may still read; marking read with htmx; the bell; the preferences; constant queries."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications.models import ChatWebhook, Notification, Preference
from tests.conftest import PERSONAS, login, queries_for
from tests.notifications.factories import HOOK, make
from usecases.models import UseCaseMember

HTMX = {"HX-Request": "true"}
PAGE = settings.REST_FRAMEWORK["PAGE_SIZE"]


def member_leaves(use_case, user) -> None:
    UseCaseMember.objects.filter(use_case=use_case, user=user).delete()


# Permission matrix: every page × every persona; each person reaches only their own


SIGNED_IN = [who for who in PERSONAS if who != "anonymous"]


def told_everyone(personas) -> dict[str, Notification]:
    """One unread notification for each signed-in persona, "For <persona>"."""
    return {who: make(personas[who], text=f"For {who}") for who in SIGNED_IN}


def someone_else(who: str) -> str:
    return "viewer" if who == "expert" else "expert"


# (URL name, method, whose notification it names: "own", "other" or None, status signed in)
PAGES = [
    ("centre", "get", None, 200),
    ("preferences", "get", None, 200),
    ("bell", "get", None, 200),
    ("open", "get", "own", 302),
    ("open", "get", "other", 404),
    ("read", "post", "own", 302),
    ("read", "post", "other", 404),
    ("read_all", "post", None, 302),
]


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    ("name", "method", "whose", "ok"), PAGES, ids=[f"{p[0]}-{p[2] or 'mine'}" for p in PAGES]
)
def test_the_pages_answer_each_persona_with_their_own_notifications_only(
    client, personas, who, name, method, whose, ok
):
    notes = told_everyone(personas)
    owner = who if whose == "own" and who != "anonymous" else someone_else(who)
    args = [notes[owner].pk] if whose else []
    login(client, personas, who)
    response = getattr(client, method)(reverse(f"notifications:{name}", args=args))
    if who == "anonymous":
        expected = 204 if name == "bell" else 302
        assert response.status_code == expected
        if expected == 302:
            assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == ok
    read = {n.text for n in Notification.objects.filter(read_at__isnull=False)}
    marks_own = name == "read_all" or (name in ("open", "read") and whose == "own")
    assert read == ({f"For {who}"} if who != "anonymous" and marks_own else set())
    if who != "anonymous" and name in ("centre", "bell"):
        html = response.content.decode()
        shown = {other for other in SIGNED_IN if f"For {other}<" in html}
        assert shown == ({who} if name == "centre" else set())
        if name == "bell":
            assert 'data-count="1"' in html


@pytest.mark.parametrize("who", PERSONAS)
def test_each_persona_saves_only_their_own_preferences(client, personas, settings, who):
    settings.DEBUG = False
    form = {f"{kind}-email": "off" for kind in Notification.Kind.values}
    form |= {"alert-webhook": "on", "webhook_url": HOOK}
    response = login(client, personas, who).post(reverse("notifications:preferences"), form)
    assert response.status_code == 302
    if who == "anonymous":
        assert response["Location"].startswith(reverse("login"))
        assert not ChatWebhook.objects.exists()
    else:
        assert response["Location"] == reverse("notifications:preferences")
        assert ChatWebhook.objects.get().user == personas[who]
        assert {row.user for row in Preference.objects.all()} == {personas[who]}


API = "/api/v1/notifications/"


# What one may still read


def test_a_notification_of_a_use_case_one_has_left_is_hidden_everywhere(
    client, api, personas, use_case
):
    expert = personas["expert"]
    secret = make(expert, use_case, kind="comment", text="A secret comment")
    make(expert, text="Still mine")
    member_leaves(use_case, expert)

    html = login(client, personas, "expert").get(reverse("notifications:centre")).content.decode()
    assert "Still mine" in html and "A secret comment" not in html
    bell = client.get(reverse("notifications:bell"), headers=HTMX).content.decode()
    assert 'data-count="1"' in bell
    assert client.get(reverse("notifications:open", args=[secret.pk])).status_code == 404
    rows = api("expert").get(API).json()["results"]
    assert [row["text"] for row in rows] == ["Still mine"]
    assert api("expert").get(f"{API}{secret.pk}/").status_code == 404


def test_a_manager_reads_notifications_of_every_use_case(client, personas, use_case):
    make(personas["manager"], use_case, text="Approve please")
    html = login(client, personas, "manager").get(reverse("notifications:centre")).content.decode()
    assert "Approve please" in html


def test_marking_all_read_leaves_and_counts_none_of_a_use_case_one_has_left(
    client, api, personas, use_case
):
    expert = personas["expert"]
    hidden = make(expert, use_case, text="A secret comment")
    member_leaves(use_case, expert)
    assert api("expert").post(f"{API}read-all").json() == {"marked": 0}
    login(client, personas, "expert")
    response = client.post(reverse("notifications:read_all"), follow=True)
    assert "0 notifications marked read." in response.content.decode()
    hidden.refresh_from_db()
    assert hidden.is_unread  # as it was: should they come back, it is news to them


# The centre


@pytest.mark.parametrize(
    ("params", "query"),
    [
        ({"show": "unread", "kind": "mention"}, "show=unread&amp;kind=mention"),
        ({"kind": "mention&show=unread"}, ""),  # not a kind: dropped, not pasted in
        ({"kind": 'alert"><b>x'}, ""),
        ({"show": "everything", "kind": "alert"}, "kind=alert"),
    ],
)
def test_the_centres_links_keep_only_the_valid_filters(client, personas, params, query):
    make(personas["expert"], kind="mention")
    make(personas["expert"], kind="alert")
    login(client, personas, "expert")
    html = client.get(reverse("notifications:centre"), params).content.decode()
    read_all = reverse("notifications:read_all")
    assert f'action="{read_all}{"?" + query if query else ""}"' in html
    for value in params.values():
        if value not in ("unread", "mention", "alert"):
            assert value not in html and value.replace("&", "&amp;") not in html


def test_the_centre_filters_unread_and_by_kind_and_links_the_preferences(client, personas):
    expert = personas["expert"]
    make(expert, kind="mention", text="A mention")
    make(expert, kind="comment", text="An old comment", read_at="2026-01-01T00:00Z")
    make(expert, kind="alert", text="An alert")
    login(client, personas, "expert")
    url = reverse("notifications:centre")
    html = client.get(url).content.decode()
    assert all(t in html for t in ("A mention", "An old comment", "An alert"))
    assert reverse("notifications:preferences") in html
    unread = client.get(url, {"show": "unread"}).content.decode()
    assert "An old comment" not in unread and "A mention" in unread
    alerts = client.get(url, {"kind": "alert"}).content.decode()
    assert "An alert" in alerts and "A mention" not in alerts
    fragment = client.get(
        url, {"kind": "comment"}, headers={**HTMX, "HX-Target": "notification-list"}
    )
    body = fragment.content.decode()
    assert body.lstrip().startswith('<section id="notification-list"')
    assert "An old comment" in body and "<html" not in body


def test_an_empty_centre_says_what_will_come_and_where_to_choose(client, personas):
    html = login(client, personas, "outsider").get(reverse("notifications:centre")).content
    assert b"No notifications yet" in html and b"Choose how you hear of each" in html
    filtered = client.get(reverse("notifications:centre"), {"show": "unread"}).content
    assert b"Nothing here with these filters" in filtered


def test_marking_one_read_with_htmx_swaps_the_row_and_tells_the_bell(client, personas):
    note = make(personas["expert"], text="A mention")
    login(client, personas, "expert")
    response = client.post(reverse("notifications:read", args=[note.pk]), headers=HTMX)
    assert response.status_code == 200
    assert "notifications-changed" in response["HX-Trigger"]
    html = response.content.decode()
    assert html.strip().startswith(f'<li id="notification-{note.pk}"') and "New" not in html
    note.refresh_from_db()
    assert note.read_at is not None


def test_marking_all_read_with_htmx_returns_the_list(client, personas):
    make(personas["expert"])
    make(personas["expert"])
    make(personas["viewer"])
    login(client, personas, "expert")
    response = client.post(reverse("notifications:read_all"), headers=HTMX)
    assert "notifications-changed" in response["HX-Trigger"]
    assert '<section id="notification-list"' in response.content.decode()
    assert Notification.objects.unread().get().recipient == personas["viewer"]


def test_the_centre_the_bell_and_the_api_cost_the_same_queries_for_5_or_50(
    client, api, personas, use_case
):
    expert = personas["expert"]
    login(client, personas, "expert")
    token = api("expert")
    counts = []
    for rows in (5, 45):  # 5, then 50 in all; half of a use case, half of none
        Notification.objects.bulk_create(
            Notification(
                recipient=expert,
                use_case=use_case if i % 2 else None,
                kind="comment",
                text=f"News {i}",
                url="/",
            )
            for i in range(rows)
        )
        with CaptureQueriesContext(connection) as centre:
            assert client.get(reverse("notifications:centre")).status_code == 200
        with CaptureQueriesContext(connection) as bell:
            client.get(reverse("notifications:bell"), headers=HTMX)
        listed = queries_for(token, API, min(rows if rows == 5 else 50, PAGE))
        counts.append((len(centre), len(bell), listed))
    assert counts[0] == counts[1]


# Preferences


def test_the_preferences_page_shows_the_defaults_and_saves_a_choice(client, personas):
    login(client, personas, "expert")
    url = reverse("notifications:preferences")
    html = client.get(url).content.decode()
    assert "Comment on a thread you take part in" in html
    assert '<option value="digest" selected>' in html
    form = {f"{kind}-email": "immediately" for kind in Notification.Kind.values}
    form |= {"mention-in_app": "on", "comment-email": "off", "comment-webhook": "on"}
    form["webhook_url"] = HOOK
    response = client.post(url, form)
    assert response.status_code == 302
    saved = Preference.objects.get(user=personas["expert"], kind="comment")
    assert (saved.in_app, saved.email, saved.webhook) == (False, "off", True)
    assert ChatWebhook.objects.get().url == HOOK


def test_a_bad_webhook_url_is_a_clear_error_and_nothing_is_saved(client, personas, settings):
    settings.DEBUG = False
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    login(client, personas, "expert")
    form = {f"{kind}-email": "off" for kind in Notification.Kind.values}
    form["webhook_url"] = "https://169.254.169.254/latest"
    response = client.post(reverse("notifications:preferences"), form)
    html = response.content.decode()
    assert response.status_code == 200 and "Nothing is saved" in html
    assert "loopback, private or local" in html
    assert not Preference.objects.exists() and not ChatWebhook.objects.exists()


@pytest.mark.parametrize("url", ["https://[::1", "https://[hooks.example.com]/x"])
def test_a_url_that_is_not_one_is_a_form_error(client, personas, settings, url):
    settings.DEBUG = False
    login(client, personas, "expert")
    form = {f"{kind}-email": "off" for kind in Notification.Kind.values}
    form["webhook_url"] = url
    response = client.post(reverse("notifications:preferences"), form)
    assert response.status_code == 200
    assert "This is not a valid URL." in response.content.decode()
    assert not ChatWebhook.objects.exists()


@pytest.mark.parametrize("url", ["https://[::1", "https://[hooks.example.com]/x"])
def test_a_url_that_is_not_one_is_a_json_400(api, personas, settings, url):
    settings.DEBUG = False
    response = api("expert").put(f"{API}preferences", {"webhook_url": url, "kinds": []}, "json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["field"], error["message"]) == ("webhook_url", "This is not a valid URL.")


def test_the_api_reads_and_replaces_the_callers_preferences(api, personas, settings):
    settings.DEBUG = False
    erik = api("expert")
    body = erik.get(f"{API}preferences").json()
    assert body["webhook_url"] == ""
    assert {"kind": "comment", "in_app": True, "email": "digest", "webhook": False} in body["kinds"]
    put = {
        "webhook_url": HOOK,
        "kinds": [{"kind": "alert", "in_app": False, "email": "off", "webhook": True}],
    }
    saved = erik.put(f"{API}preferences", put, format="json")
    assert saved.status_code == 200 and saved.json()["webhook_url"] == HOOK
    assert {"kind": "alert", "in_app": False, "email": "off", "webhook": True} in saved.json()[
        "kinds"
    ]
    # Another person's preferences are untouched.
    assert api("viewer").get(f"{API}preferences").json()["webhook_url"] == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"webhook_url": "http://hooks.example.com/x", "kinds": []}, "webhook_url"),
        (
            {
                "webhook_url": "",
                "kinds": [{"kind": "alert", "in_app": 1, "email": "off", "webhook": True}],
            },
            "webhook_url",
        ),
        (
            {
                "webhook_url": "",
                "kinds": [{"kind": "gossip", "in_app": True, "email": "off", "webhook": False}],
            },
            "kinds.0.kind",
        ),
    ],
)
def test_the_api_refuses_bad_preferences_with_a_json_error(api, personas, settings, body, field):
    settings.DEBUG = False
    response = api("expert").put(f"{API}preferences", body, format="json")
    assert response.status_code == 400
    assert field in {item.get("field") for item in response.json()["errors"]}


def test_the_api_lists_filters_and_marks_read_ones_own(api, personas):
    mine = make(personas["expert"], kind="alert", text="An alert")
    make(personas["expert"], kind="mention", key="promotion-request:7")
    make(personas["viewer"], text="Not erik's")
    erik = api("expert")
    rows = erik.get(API).json()["results"]
    assert {row["text"] for row in rows} == {"An alert", "Erik mentioned you"}
    assert {row["request"] for row in rows} == {None, 7}
    assert [r["id"] for r in erik.get(API, {"kind": "alert"}).json()["results"]] == [mine.pk]
    assert erik.post(f"{API}{mine.pk}/read").json()["unread"] is False
    assert len(erik.get(API, {"unread": "true"}).json()["results"]) == 1
    assert erik.post(f"{API}read-all").json() == {"marked": 1}
