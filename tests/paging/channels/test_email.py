"""The SMTP channel against a real aiosmtpd server: STARTTLS and implicit TLS with login,
the server's refusals and absence, and what the message looks like when it arrives."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from sitewatch.paging.channels.email import SmtpChannel, message_id
from sitewatch.paging.channels.errors import Rejected, Unreachable
from sitewatch.paging.config import EmailChannel

from .conftest import CONTENT, NOW, SMTP_LOGIN, FixedClock, outgoing, provider

TO = "值班员 <oncall@sitewatch.example>"


def channel(port: int, *, security: str = "starttls", ca_file: Path | None = None, password: str = SMTP_LOGIN[1],
            login: bool = True, clock: FixedClock) -> SmtpChannel:
    settings = EmailChannel(host="127.0.0.1", port=port, security=security,
                            sender="Sitewatch <alerts@sitewatch.example>",
                            credential="smtp" if login else None, ca_file=str(ca_file) if ca_file else None,
                            timeout_s=5)
    return SmtpChannel("mail", settings, secret=provider(SMTP_LOGIN[0], password) if login else None, clock=clock)


async def test_starttls_with_login_delivers_the_message_intact(smtp_server, ca_file, clock) -> None:
    server = smtp_server("starttls")
    smtp = channel(server.port, ca_file=ca_file, clock=clock)
    receipt = await smtp.send(outgoing(address="oncall@sitewatch.example"))

    assert receipt == "250 OK queued as 1"
    [mail] = server.mails
    assert (mail.mail_from, mail.rcpt_tos, mail.login) == ("alerts@sitewatch.example", ("oncall@sitewatch.example",),
                                                           SMTP_LOGIN[0])
    parsed = mail.parsed()
    assert parsed["Subject"] == CONTENT.subject
    assert parsed["From"] == "Sitewatch <alerts@sitewatch.example>"
    assert parsed["To"] == "oncall@sitewatch.example"
    assert parsed["Message-ID"] == "<delivery-42-1@sitewatch>"
    assert parsedate_to_datetime(parsed["Date"]) == NOW.replace(microsecond=0)
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content_type() == "text/plain" and body.get_content_charset() == "utf-8"
    assert body.get_content().replace("\r\n", "\n").rstrip("\n") == CONTENT.text  # SMTP carries CRLF


async def test_implicit_tls_with_login(smtp_server, ca_file, clock) -> None:
    server = smtp_server("ssl")
    await channel(server.port, security="ssl", ca_file=ca_file, clock=clock).send(outgoing(address=TO))

    [mail] = server.mails
    assert mail.login == SMTP_LOGIN[0]
    assert mail.rcpt_tos == ("oncall@sitewatch.example",), "the envelope takes the bare address of a named one"
    assert mail.parsed()["To"] == TO and mail.parsed()["Subject"] == CONTENT.subject


async def test_no_security_and_no_login_for_a_relay(smtp_server, clock) -> None:
    server = smtp_server("none", login=None)
    await channel(server.port, security="none", login=False, clock=clock).send(outgoing(address=TO))

    [mail] = server.mails
    assert mail.login is None and mail.parsed()["Subject"] == CONTENT.subject


async def test_same_key_same_message_id_on_every_attempt(smtp_server, ca_file, clock) -> None:
    server = smtp_server("starttls")
    mail = channel(server.port, ca_file=ca_file, clock=clock)
    await mail.send(outgoing("delivery-7-2", address=TO))
    await mail.send(outgoing("delivery-7-2", address=TO))
    await mail.send(outgoing("delivery-8-1", address=TO))

    ids = [m.parsed()["Message-ID"] for m in server.mails]
    assert ids == ["<delivery-7-2@sitewatch>", "<delivery-7-2@sitewatch>", "<delivery-8-1@sitewatch>"]


def test_a_key_that_cannot_stand_in_a_message_id_is_hashed_stably() -> None:
    odd = "ticket 42 <level 2>@desk"
    assert message_id(odd) == message_id(odd)
    assert message_id(odd) != message_id(odd + "!")
    assert message_id(odd).startswith("<") and message_id(odd).endswith("@sitewatch>")
    assert " " not in message_id(odd) and message_id(odd).count("@") == 1


async def test_wrong_password_is_rejected_without_the_password(smtp_server, ca_file, clock) -> None:
    server = smtp_server("starttls")
    with pytest.raises(Rejected) as caught:
        await channel(server.port, ca_file=ca_file, password="wrong-口令", clock=clock).send(outgoing(address=TO))

    assert caught.value.code == 535, str(caught.value)
    assert str(caught.value).startswith("mail: 127.0.0.1:") and "535" in str(caught.value)
    assert "wrong-口令" not in str(caught.value)
    assert server.mails == []


async def test_untrusted_certificate_is_not_accepted(smtp_server, clock) -> None:
    server = smtp_server("starttls")  # its certificate is self-signed; no ca_file: the system's trust store
    with pytest.raises(Unreachable) as caught:
        await channel(server.port, clock=clock).send(outgoing(address=TO))

    assert "certificate" in str(caught.value).lower(), str(caught.value)
    assert server.mails == []


async def test_refused_recipient_is_rejected_and_a_busy_one_unreachable(smtp_server, ca_file, clock) -> None:
    server = smtp_server("starttls")
    server.refuse["gone@sitewatch.example"] = "550 5.1.1 <gone@sitewatch.example>: no such user"
    server.refuse["full@sitewatch.example"] = "452 4.2.2 mailbox full"
    mail = channel(server.port, ca_file=ca_file, clock=clock)

    with pytest.raises(Rejected) as gone:
        await mail.send(outgoing(address="gone@sitewatch.example"))
    with pytest.raises(Unreachable) as full:
        await mail.send(outgoing(address="full@sitewatch.example"))

    assert gone.value.code == 550 and "no such user" in str(gone.value)
    assert full.value.code == 452 and "mailbox full" in str(full.value)
    assert server.mails == []


async def test_server_down_is_unreachable(closed_port, clock) -> None:
    with pytest.raises(Unreachable) as caught:
        await channel(closed_port, clock=clock).send(outgoing(address=TO))
    assert f"127.0.0.1:{closed_port}" in str(caught.value)


async def test_no_address_is_rejected_before_connecting(closed_port, clock) -> None:
    with pytest.raises(Rejected, match="no e-mail address"):
        await channel(closed_port, clock=clock).send(outgoing(address=None))
