"""E-mail through SMTP: the only module that imports aiosmtplib.

One connection per message (connect, STARTTLS or implicit TLS, login, send, quit): pages
are few, and nothing is left open to time out or go stale between them. The server's
certificate is checked against ``ca_file`` when given (a control room's own CA), else the
system's trust store; it is never skipped.

The Message-ID is derived from the message key, the same on every attempt: a mail system or
reader that keeps Message-IDs shows a repeat (a retry after the server took the message but
its answer was lost) once.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from sitewatch.domain.time import Clock
from sitewatch.paging.channels import Credential
from sitewatch.paging.channels.errors import ChannelError, Rejected, Unreachable, read_credential
from sitewatch.paging.config import EmailChannel
from sitewatch.paging.models import Outgoing

# What may stand left of the @ of a Message-ID as it is (RFC 5322 dot-atom text, less a few
# characters mail software mishandles); any other key is hashed.
_ID_SAFE = re.compile(r"^[A-Za-z0-9._+=-]{1,200}$")


class SmtpChannel:
    kind = "email"

    def __init__(self, name: str, settings: EmailChannel, *, secret: Credential | None, clock: Clock) -> None:
        self.name = name
        self._settings = settings
        self._secret = secret
        self._clock = clock
        # Built once: a missing or unreadable ca_file stops the start-up, not every message.
        self._tls = (ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file
                     else ssl.create_default_context())

    async def send(self, message: Outgoing) -> str:
        if not message.address:
            raise Rejected(self.name, f"message {message.key}: no e-mail address to send to")
        recipient = parseaddr(message.address)[1]  # the envelope takes the bare address of "Name <address>"
        if "@" not in recipient:
            raise Rejected(self.name, f"message {message.key}: {message.address!r} is not an e-mail address")
        username = password = None
        if self._secret is not None:
            username, password = read_credential(self.name, self._secret, self._settings.credential or "")
        settings = self._settings
        try:
            mail = self._compose(message)
        except ValueError as exc:  # e.g. a line break in the address: it would start another header
            raise Rejected(self.name, f"message {message.key} cannot be written as an e-mail: {exc}") from exc
        try:
            _, answer = await aiosmtplib.send(
                mail, sender=parseaddr(settings.sender)[1], recipients=[recipient],
                hostname=settings.host, port=settings.port, username=username, password=password,
                use_tls=settings.security == "ssl", start_tls=settings.security == "starttls",
                tls_context=self._tls, timeout=settings.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._error(exc, hide=(password or "",)) from exc
        return f"250 {answer}".strip()

    async def aclose(self) -> None:
        """Nothing held: every message has its own connection."""

    def _compose(self, message: Outgoing) -> EmailMessage:
        content = message.content
        mail = EmailMessage()
        mail["From"] = self._settings.sender
        mail["To"] = message.address
        # A line break in a header would be refused (or worse, start another header): one line.
        mail["Subject"] = " ".join(content.subject.split())
        mail["Date"] = format_datetime(self._clock.now())
        mail["Message-ID"] = message_id(message.key)
        mail.set_content(content.text, charset="utf-8")
        return mail

    def _error(self, exc: Exception, *, hide: tuple[str, ...]) -> ChannelError:
        """SMTP's own rule: a 4xx reply is transient, a 5xx one permanent (RFC 5321, 4.2.1)."""
        where = f"{self._settings.host}:{self._settings.port}"
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
            exc = exc.recipients[0]  # one recipient per message
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            words = f"{where} answered {exc.code} {exc.message}"
            if 500 <= exc.code < 600:
                return Rejected(self.name, words, code=exc.code, hide=hide)
            # 4xx, and what is no SMTP reply at all (aiosmtplib's code -1 for a garbled one)
            return Unreachable(self.name, words, code=exc.code, hide=hide)
        if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors
            return Unreachable(self.name, f"{where}: no answer within {self._settings.timeout_s:g} s", hide=hide)
        if isinstance(exc, OSError):
            # Refused, reset, dropped (aiosmtplib's connect and disconnect errors are
            # ConnectionErrors), unknown host, a certificate not trusted (ssl.SSLError: a
            # server's expired certificate gets renewed, the message waits for that).
            cause = exc.__cause__ or exc
            return Unreachable(self.name, f"{where}: {type(cause).__name__}: {exc}", hide=hide)
        # SMTPNotSupported and the like: the server lacks what the settings ask (STARTTLS,
        # AUTH); it will lack it on the next try too.
        return Rejected(self.name, f"{where}: {type(exc).__name__}: {exc}", hide=hide)


def message_id(key: str) -> str:
    """The Message-ID of every attempt of the message with this key."""
    local = key if _ID_SAFE.match(key) else hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"<{local}@sitewatch>"
