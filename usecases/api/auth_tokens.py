"""Tokens for scripts: /api/v1/auth/token (docs/security.md, "Tokens for scripts").

POST trades a username and password for a new API token, shown once: what `quorum login`
calls. It is a login, so it is guarded as the login form is. The password is checked by
`django.contrib.auth.authenticate(request=…)`, so django-axes' backend counts each failure
per username and address together with the form's, and refuses a locked pair; here the
refusal is a JSON 429 rather than axes' page (`usecases.views.locked_out`), because this
view passes DRF's request, whose flags AxesMiddleware never sees. A scoped throttle
(`token_login`, per address) slows one address trying many usernames besides. A wrong
password, an unknown user and an inactive one get the same 400.

DELETE revokes the very token the request carries (`quorum logout`); only a token
authenticates it, since a browser session has no token to revoke.
"""

from __future__ import annotations

import unicodedata

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import update_last_login
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, throttling
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import ErrorBody, JSONOnly, errors
from portal.auth import TokenAuthentication
from portal.proxies import client_address
from portal.text import single_line
from usecases.services import tokens

DEFAULT_EXPIRY_DAYS = 90
# Without a "token_login" entry in REST_FRAMEWORK's DEFAULT_THROTTLE_RATES, this one.
DEFAULT_LOGIN_RATE = "10/minute"
INVALID_CREDENTIALS = "Unable to log in with the username and password given."
User = get_user_model()


class UsernameField(serializers.CharField):
    """Read as the login form reads it (Django's UsernameField): stripped, NFKC-normalised.
    The length is checked after the normalisation, which may lengthen a name."""

    def to_internal_value(self, data) -> str:
        return unicodedata.normalize("NFKC", super().to_internal_value(data))


class TokenLogin(serializers.Serializer):
    """A username and password, and what the new token should be."""

    username = UsernameField(max_length=User._meta.get_field(User.USERNAME_FIELD).max_length)
    # Not stripped: spaces may be part of a password. Long enough for any passphrase, short
    # enough that hashing it costs nothing.
    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, write_only=True, style={"input_type": "password"}
    )
    name = serializers.CharField(
        max_length=tokens.NAME_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        validators=[single_line],
        help_text='A label for the token ("quorum CLI on laptop"), kept in its audit event.',
    )
    expiry_days = serializers.ChoiceField(
        choices=[days for days in tokens.EXPIRY_DAYS_CHOICES if days],
        allow_null=True,
        required=False,
        default=DEFAULT_EXPIRY_DAYS,
        help_text=f"Days until the token expires (default {DEFAULT_EXPIRY_DAYS}); null: never.",
    )


class NewToken(serializers.Serializer):
    """The token just created; `token` is never shown again."""

    token = serializers.CharField(
        help_text="The token in clear text, shown this once: send `Authorization: Token <token>`."
    )
    token_key = serializers.CharField(help_text="Its first characters, as the account lists it.")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="null: never.")
    username = serializers.CharField()


class TokenLoginThrottle(throttling.SimpleRateThrottle):
    """Token logins per client address (portal.proxies, as axes and the API's throttles)."""

    scope = "token_login"

    def get_rate(self) -> str:
        return self.THROTTLE_RATES.get(self.scope) or DEFAULT_LOGIN_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


LOCKED_OUT = OpenApiResponse(
    ErrorBody,
    description="Too many requests from this address (`throttled`), or too many failed logins "
    "of this username from it (`locked_out`): wait `Retry-After` seconds.",
)


NO_TOKEN = OpenApiResponse(
    ErrorBody,
    description="No valid token in `Authorization: Token <token>` (a session has no token to "
    "revoke).",
)


@extend_schema(tags=["auth"])
class TokenView(JSONOnly, APIView):
    """POST: a new token for a username and password; DELETE: revoke the token used."""

    authentication_classes = [TokenAuthentication]
    logging_in = False  # set per request, below

    def initialize_request(self, request, *args, **kwargs):
        # Logging in takes a password, not a token: one the client still sends (expired,
        # revoked) must not stand in its way, so POST authenticates nothing.
        self.logging_in = request.method == "POST"
        return super().initialize_request(request, *args, **kwargs)

    def get_authenticators(self):
        return [] if self.logging_in else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self.logging_in else [IsAuthenticated()]

    def get_throttles(self):
        throttles = super().get_throttles()
        return [*throttles, TokenLoginThrottle()] if self.logging_in else throttles

    @extend_schema(
        operation_id="v1_auth_token_create",
        request=TokenLogin,
        responses={
            201: NewToken,
            **errors(400, 413),
            429: LOCKED_OUT,
        },
        description="A new API token for the account, its clear text shown this once. Needs "
        "no token: the username and password are the credentials. A wrong password, an "
        "unknown username and an inactive account answer the same 400 "
        "(`invalid_credentials`). Failed logins count as the login form's do: after "
        f"{settings.AXES_FAILURE_LIMIT} from one address the username is locked there for "
        f"{settings.AXES_COOLOFF_MINUTES} minutes (429, `locked_out`).",
    )
    def post(self, request):
        data = TokenLogin(data=request.data)
        data.is_valid(raise_exception=True)
        username, password = data.validated_data["username"], data.validated_data["password"]
        # DRF's request: axes marks a lockout on it, where AxesMiddleware does not look.
        user = authenticate(request=request, username=username, password=password)
        if getattr(request, "axes_locked_out", False):
            return _locked_out()
        if user is None:
            body = {"detail": INVALID_CREDENTIALS, "code": "invalid_credentials"}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        _logged_in(request, username, user)
        token, text = tokens.create_token(
            user,
            expiry_days=data.validated_data["expiry_days"],
            name=data.validated_data["name"],
            via="api",
        )
        body = {
            "token": text,
            "token_key": token.token_key,
            "expires_at": token.expiry,
            "username": user.get_username(),
        }
        response = Response(NewToken(body).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # the token in clear text
        return response

    @extend_schema(
        operation_id="v1_auth_token_destroy",
        request=None,
        responses={204: None, 401: NO_TOKEN},
        description="Revoke the token this request is authenticated with (`Authorization: "
        "Token <token>`); the account's other tokens stay. A session cannot call it.",
    )
    def delete(self, request):
        token = request.auth
        tokens.revoke_token(request.user, token.token_key, digest=token.digest)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _locked_out() -> Response:
    """The JSON twin of usecases.views.locked_out (the login form's page)."""
    minutes, limit = settings.AXES_COOLOFF_MINUTES, settings.AXES_FAILURE_LIMIT
    detail = (
        f"Too many failed logins: this account had {limit} from your address, so logging in "
        f"to it from here is paused for {minutes} minutes. Each further attempt during the "
        "pause starts it again."
    )
    response = Response({"detail": detail, "code": "locked_out"}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


def _logged_in(request, username: str, user) -> None:
    """What the login form's success does, without a session: the last login, and axes'
    failures of this username (as typed, as axes counted them) from this address forgotten
    (AXES_RESET_ON_SUCCESS; the pair is AXES_LOCKOUT_PARAMETERS'). Not the user_logged_in
    signal: axes' receiver would create a session, and a cookie, for its access log."""
    update_last_login(None, user)
    if settings.AXES_ENABLED and settings.AXES_RESET_ON_SUCCESS:
        AxesProxyHandler.reset_attempts(ip_address=client_address(request), username=username)
