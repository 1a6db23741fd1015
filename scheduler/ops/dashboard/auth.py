"""Who may read the dashboard: nobody checks on localhost; a token or a password elsewhere.

The dashboard shows every parameter and result of every stored experiment,
so it binds to 127.0.0.1 by default and `check_bind` refuses any other
address unless a credential is configured (one line saying what to set).
A request then needs either `Authorization: Bearer TOKEN` (scripts), or
basic auth (browsers prompt for it): user and password, or any user with
the token as password. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from scheduler.core.errors import BoSchedulerError

ENV_TOKEN = "BO_DASHBOARD_TOKEN"
ENV_USER = "BO_DASHBOARD_USER"
ENV_PASSWORD = "BO_DASHBOARD_PASSWORD"


class UnsafeBindError(BoSchedulerError):
    """A non-loopback address was asked for without any credential configured."""


@dataclass(frozen=True)
class AuthSettings:
    """The dashboard's credentials; none set means no check (loopback only)."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    @staticmethod
    def from_environ(environ: Mapping[str, str] | None = None) -> AuthSettings:
        env = os.environ if environ is None else environ
        return AuthSettings(
            token=env.get(ENV_TOKEN) or None,
            user=env.get(ENV_USER) or None,
            password=env.get(ENV_PASSWORD) or None,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.token or (self.user and self.password))

    def allows(self, authorization: str | None) -> bool:
        """Whether an `Authorization` header value carries a configured credential."""
        if not self.enabled:
            return True
        if not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self.token:
            return hmac.compare_digest(value.strip().encode(), self.token.encode())
        if scheme != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if self.token and hmac.compare_digest(password.encode(), self.token.encode()):
            return True
        return bool(
            self.user
            and self.password
            and hmac.compare_digest(user.encode(), self.user.encode())
            and hmac.compare_digest(password.encode(), self.password.encode())
        )


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: AuthSettings) -> None:
    """Raise `UnsafeBindError` for a non-loopback `host` without credentials."""
    if not is_loopback(host) and not auth.enabled:
        raise UnsafeBindError(
            f"refusing to serve the dashboard on {host} without auth: set {ENV_TOKEN} "
            f"(or {ENV_USER} and {ENV_PASSWORD}), or bind to 127.0.0.1"
        )


class AuthMiddleware:
    """ASGI middleware answering 401 (with a basic-auth challenge) to unauthorized requests."""

    def __init__(self, app: ASGIApp, auth: AuthSettings) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.auth.enabled:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        value = headers.get(b"authorization")
        if self.auth.allows(value.decode("latin-1") if value else None):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"www-authenticate", b'Basic realm="bo-scheduler dashboard"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"authentication required\n"})
