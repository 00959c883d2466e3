"""What a request says about where it came from, believed only from proxies we trust.

Headers such as X-Forwarded-For and X-Request-ID are written by whoever sends the request.
They mean something only when TRUSTED_PROXY_COUNT proxies (settings.py, default 0) stand in
front of the server and each appends to X-Forwarded-For. With none, the client's address is
REMOTE_ADDR and every request id is our own. django-axes (AXES_CLIENT_IP_CALLABLE) and the
API's throttles (portal/throttles.py) both take the address from `client_address`.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def trusted_proxies() -> int:
    """How many proxies in front of the server add to X-Forwarded-For (0: none, trust no
    header the client could have written)."""
    return settings.TRUSTED_PROXY_COUNT


def client_address(request: HttpRequest) -> str:
    """The client's IP address: REMOTE_ADDR, or with N trusted proxies in front, the address
    the outermost of them saw (the N-th entry of X-Forwarded-For from the right), as DRF's
    `NUM_PROXIES` reads it. Entries further left are the client's own words."""
    proxies, forwarded = trusted_proxies(), request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        addresses = [address.strip() for address in forwarded.split(",")]
        return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")
