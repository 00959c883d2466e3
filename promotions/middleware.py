"""The deployment lookup's fast path: `GET /api/v1/usecases/{slug}/deployment` with an API
token, answered in one SQL statement (promotions/fastpath.py) instead of the API view's
seven queries, URL resolution and DRF (docs/promotions.md, "For serving"; the bench in
docs/benchmarks.md, "Deployment").

`DeploymentFastPath` sits in MIDDLEWARE right after the middleware that set headers on every
response, so those run for it as for any request: the request id (X-Request-ID, log lines),
the NUL refusal, the HTTPS redirect, HSTS, nosniff, Referrer-Policy,
Cross-Origin-Opener-Policy, the CSP and the Permissions-Policy. What the rest of the list
would do to the view's answer it does itself, or it steps aside:
- CommonMiddleware: the host check (a host not allowed goes on, to its 400), PREPEND_WWW and
  DISALLOWED_USER_AGENTS (set: every request goes on), Content-Length;
- XFrameOptionsMiddleware: X-Frame-Options;
- LoginRequiredMiddleware reads request.user before every view, so SessionMiddleware varies
  the view's answer on Cookie: so does this one;
- a request with any cookie goes on (a session to load, perhaps to clear; a CSRF cookie to
  renew; messages), as does a multipart body (portal.uploads checks its length);
- WhiteNoise serves only static files, CSRF exempts the API, axes and htmx add nothing.

It answers only what it is sure to answer as the view (promotions/api/deployment.py) would,
byte for byte, headers included (tests/promotions/test_fastpath.py runs every case both
ways): GET or HEAD of exactly that path, no query string, no Accept or one the view's
renderer answers as plain `application/json`, `Authorization: Token <token>` of a knox token
that is current (nor any other token of its user expired: knox would delete it), of an
active user who may view the use case. The body, ETag and If-None-Match rule are the view's
own (promotions/deployment_body.py). DRF's throttles are the view's too, counted in the same
cache under the same keys: a request over the rate goes on to the view, which answers 429.
Everything else goes on to Django unchanged, so 400, 401, 403, 404, 406 and 429 stay the
view's answers.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from promotions import fastpath
from promotions.api.deployment import DeploymentView
from promotions.deployment_body import etag_of, matches, render

# Accept headers for which DRF's negotiation picks JSONRenderer as plain "application/json"
# (absent means */*); any other goes to the view, which may answer 406 or another type.
ACCEPTS = frozenset({"*/*", "application/json"})
ALLOW = "GET, HEAD, OPTIONS"  # what DRF's APIView answers for DeploymentView


class DeploymentFastPath:
    """Answers the deployment lookup of an API token in one query; passes on the rest."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = answer(request)
        return self.get_response(request) if response is None else response


def answer(request: HttpRequest) -> HttpResponse | None:
    """The view's answer to `request` if the fast path can give it; else None."""
    meta = request.META
    if request.method not in ("GET", "HEAD") or meta.get("QUERY_STRING"):
        return None
    slug = fastpath.slug_of(request.path_info)
    if slug is None or meta.get("HTTP_ACCEPT", "*/*") not in ACCEPTS:
        return None
    if meta.get("HTTP_COOKIE") or meta.get("CONTENT_TYPE", "").startswith("multipart/"):
        return None
    if settings.PREPEND_WWW or settings.DISALLOWED_USER_AGENTS or not allowed_host(request):
        return None
    token = fastpath.token_of(meta.get("HTTP_AUTHORIZATION", ""))
    if token is None:
        return None
    found = fastpath.answer_for(token, slug, fastpath.lookup(token, slug))
    if found is None or not within_rate(request, found.user_id):
        return None
    return deployment_response(found.body, request.headers.get("If-None-Match", ""))


def allowed_host(request: HttpRequest) -> bool:
    """Whether CommonMiddleware would let the request through (ALLOWED_HOSTS)."""
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True


class _TokenUser:
    """The token's user as DRF's throttles read it: its pk, authenticated."""

    is_authenticated, is_anonymous = True, False

    def __init__(self, pk: int) -> None:
        self.pk = self.id = pk


class _AsTokenUser:
    """The request as DRF's Request shows it to a throttle: the token's user, and the rest
    of the Django request (META for the address) as it is."""

    def __init__(self, request: HttpRequest, user_id: int) -> None:
        self._request = request
        self.user = _TokenUser(user_id)

    def __getattr__(self, name: str):
        return getattr(self._request, name)


def within_rate(request: HttpRequest, user_id: int) -> bool:
    """DRF's check_throttles for DeploymentView: every throttle asked (each counts the
    request it allows), True if all allow."""
    view = DeploymentView()
    shown = _AsTokenUser(request, user_id)
    return all([throttle.allow_request(shown, view) for throttle in view.get_throttles()])


def deployment_response(body: dict, if_none_match: str) -> HttpResponse:
    """The view's response: 304 and no content type when the ETag matches, else the JSON;
    with the headers DRF and the middleware after this one would give it."""
    etag = etag_of(body)
    if matches(if_none_match, etag):
        response = HttpResponse(status=304)
        del response["Content-Type"]  # as DRF's Response with no data
    else:
        response = HttpResponse(render(body), content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    response["Allow"] = ALLOW
    response["Content-Length"] = str(len(response.content))
    response["X-Frame-Options"] = settings.X_FRAME_OPTIONS.upper()
    patch_vary_headers(response, ("Cookie",))
    return response
