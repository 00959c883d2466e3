"""The API's rate limits (DEFAULT_THROTTLE_CLASSES): DRF's throttles, counting an anonymous
client per address as django-axes does (portal.proxies.client_address), so that one reading
of X-Forwarded-For serves both. Apart from portal/api.py: DRF imports this module while it
defines APIView, so it must not import DRF's views."""

from rest_framework import throttling

from portal.proxies import client_address


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_ident(self, request) -> str:
        return client_address(request)


class UserRateThrottle(throttling.UserRateThrottle):
    """Per account; an anonymous request per client address."""

    def get_ident(self, request) -> str:
        return client_address(request)
