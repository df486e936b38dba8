"""Database URLs: which ones name PostgreSQL, and how to show one without its password."""

from __future__ import annotations

import urllib.parse

from ..errors import ConfigError

__all__ = ["check_database_url", "redact_url"]

_SCHEMES = ("postgresql://", "postgres://")


def check_database_url(url: object, where: str = "database_url") -> str:
    """`url` if it names a PostgreSQL server; otherwise a `ConfigError` that never shows a password."""
    if isinstance(url, str) and url.startswith(_SCHEMES):
        return url
    if isinstance(url, str):
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise ConfigError(f"{where} must be a postgresql:// or postgres:// URL, got one starting "
                          f"with {scheme!r}; leave it empty to use SQLite shards in DATA_DIR")
    raise ConfigError(f"{where} must be a str URL (postgresql://...), got {type(url).__name__}")


def redact_url(url: str) -> str:
    """The URL with its password replaced by *** (works without the postgres extra)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hostinfo}"
    query = "&".join(
        f"{key}=***" if key.lower() == "password" else f"{key}={urllib.parse.quote(value, safe='')}"
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
