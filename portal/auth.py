"""The API's token authentication: knox's, with a header it cannot read answered 401.

knox decodes the token's bytes as UTF-8 without catching the error, so an `Authorization:
Token …` header holding a byte that is not UTF-8 (WSGI hands headers over as latin-1: "é"
arrives as b"\\xe9") was a 500 on every API endpoint. Here it is the 401 of any other token
that matches none, before knox looks it up. (The deployment fast path, promotions/fastpath.py,
already leaves any header that is not printable ASCII to the view, and so to this class.)
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's TokenAuthentication; a token that is not UTF-8 is an invalid token (401)."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        return super().authenticate_credentials(token)


class TokenScheme(KnoxTokenScheme):
    """The schema's `knoxApiToken` security scheme, for this class as for knox's."""

    target_class = "portal.auth.TokenAuthentication"
