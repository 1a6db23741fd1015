"""Passwords out of everything printed: one `mask_url`, one `mask_secrets`.

Both storage (database URLs in its errors) and ops (broker URLs in logs and
`status`) mask secrets, and storage must not import ops, so the one
implementation lives here in the lowest layer. URLs are parsed by
SQLAlchemy's `make_url`, which reads any `scheme://user:password@host...`
(redis://, postgresql+psycopg2://, amqp://), not only database URLs.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: `scheme://user:password@` in free text. The password runs to the *last*
#: `@` of the token (greedy), so an unencoded `@` in a password is masked
#: too, at worst with part of the host.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):\S+@")


def mask_secrets(text: str) -> str:
    """`text` (a log line, an error message) with every URL password replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>\g<user>:***@", text)


def mask_url(url: str | URL | None) -> str:
    """`url` as text with its password replaced by `***`: `scheme://user:***@host...`.

    A URL without a password is returned as given (no re-rendering, so its
    query keeps its order). Text `make_url` cannot parse (a bad port, no
    scheme) is masked as free text by `mask_secrets` rather than refused,
    since it is usually being shown in an error about that very URL.
    None (nothing configured) is shown as `-`.
    """
    if url is None:
        return "-"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return mask_secrets(str(url))
    if parsed.password is None:
        return url if isinstance(url, str) else parsed.render_as_string(hide_password=False)
    return parsed.render_as_string(hide_password=True)


def without_password(url: str) -> str:
    """`url` with no password at all (not even `***`): what may be stored, e.g. the
    broker a run used, so that `status` finds it while the secret stays in the
    environment. Unparsable text is returned masked."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return mask_secrets(url)
    if parsed.password is None:
        return url
    parsed = parsed._replace(password=None)
    parsed = parsed._replace(username=parsed.username or None)
    return parsed.render_as_string(hide_password=False)
