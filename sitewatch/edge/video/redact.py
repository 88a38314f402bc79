"""Camera credentials out of every log line and status: ``rtsp://user:pass@host`` becomes
``rtsp://user:***@host``. Pure string functions; the URL itself is never changed where it is
used to connect."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

HIDDEN = "***"


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``; the rest as it was."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{HIDDEN}@{host}"))


def redact_text(text: str, url: str) -> str:
    """``text`` (an error, a tool's stderr) with ``url``'s password hidden wherever it shows,
    as typed or percent-decoded."""
    password = urlsplit(url).password
    if not password:
        return text
    text = text.replace(url, redact_url(url))
    for form in {password, unquote(password)}:
        text = text.replace(form, HIDDEN)
    return text
