"""Who may do what, CSRF tokens, the same-origin check, security headers and the audit trail."""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import secrets
from urllib.parse import urlsplit

from ._http import HttpError, Request, Response

__all__ = [
    "CSRF_COOKIE",
    "Access",
    "audit_log",
    "check_csrf",
    "check_same_origin",
    "csrf_nonce",
    "csrf_token",
    "secure_headers",
]

audit_log = logging.getLogger("queue_max.dashboard.audit")

CSRF_COOKIE = "qmx_csrf"

# No inline script or style anywhere: the one script and the one stylesheet are files.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Access(enum.Enum):
    """What an `authorize(request)` hook grants."""

    ADMIN = "admin"
    READ_ONLY = "read_only"
    DENY = "deny"


def secure_headers(response: Response) -> Response:
    response.headers.extend([
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "same-origin"),  # no-referrer would make Chrome send Origin: null
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ])
    return response


def csrf_nonce(request: Request) -> tuple[str, bool]:
    """The browser's CSRF nonce (from its cookie), and whether it is new and must be set."""
    if request.nonce is None:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if len(nonce) == 43 and nonce.replace("-", "").replace("_", "").isalnum():
            request.nonce = (nonce, False)
        else:
            request.nonce = (secrets.token_urlsafe(32), True)
    return request.nonce


def csrf_token(secret: bytes, nonce: str) -> str:
    """The token forms carry: a MAC of the cookie's nonce, so a planted cookie is not enough."""
    return hmac.new(secret, nonce.encode("ascii"), hashlib.sha256).hexdigest()


def check_csrf(secret: bytes, request: Request, form: dict[str, list[str]]) -> None:
    nonce = request.cookies.get(CSRF_COOKIE)
    sent = (form.get("csrf_token") or [""])[0]
    if not nonce or not sent:
        raise HttpError(403, "CSRF token missing: reload the page and try again")
    if not hmac.compare_digest(sent, csrf_token(secret, nonce)):
        raise HttpError(403, "CSRF token wrong: reload the page and try again")


def check_same_origin(request: Request, trusted: frozenset[str]) -> None:
    """Refuse a mutation sent from another site (`Origin`, else `Sec-Fetch-Site`)."""
    origin = request.headers.get("origin")
    if origin is not None and origin in trusted:
        return
    if origin is not None:
        netloc = urlsplit(origin).netloc if origin != "null" else ""
        if netloc != request.host:
            raise HttpError(403, f"cross-site request refused (Origin {origin!r} is not this dashboard)")
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise HttpError(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
