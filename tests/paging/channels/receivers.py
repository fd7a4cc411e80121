"""Real receivers for the channel tests: an SMTP server (aiosmtpd) and an HTTP server (uvicorn)
on loopback ports, recording what they get and answering as a test tells them.

The SMTP server runs its own event loop in a thread, so the connections it serves are no
tasks of the test's loop. The HTTP server runs in the test's loop (as tests/serving.py
does, without its FastAPI imports: a bare ASGI app is all a receiver needs).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TestCert:
    __test__ = False  # not a test class, whatever its name says

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_cert(folder: Path) -> TestCert:
    """A self-signed certificate for 127.0.0.1 (and localhost), to be trusted through ca_file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sitewatch test mail server")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return TestCert(cert_file, key_file)


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None  # who logged in, if anyone

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


class _Handler:
    """aiosmtpd's handler: refuses the recipients a test names, keeps every accepted message."""

    def __init__(self, receiver: SmtpReceiver) -> None:
        self._receiver = receiver

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str, options: list) -> str:
        refusal = self._receiver.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self._receiver.mails.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content,
                                         login))
        return f"250 OK queued as {len(self._receiver.mails)}"


class SmtpReceiver:
    """An SMTP server on 127.0.0.1 and an ephemeral port: ``security`` "starttls" (offers
    STARTTLS, AUTH only after it), "ssl" (TLS from the first byte) or "none"; ``login``:
    the one (username, password) AUTH LOGIN / PLAIN accepts, None: no AUTH offered."""

    def __init__(self, *, security: str, cert: TestCert, login: tuple[str, str] | None) -> None:
        self.security = security
        self.mails: list[Mail] = []
        self.refuse: dict[str, str] = {}  # recipient -> the reply to its RCPT, e.g. "550 5.1.1 no such user"
        self.port = 0
        self._cert = cert
        self._login = login
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-receiver", daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def _authenticate(self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (self._login is not None and isinstance(data, LoginPassword)
              and (data.login.decode(), data.password.decode()) == self._login)
        return AuthResult(success=ok, handled=False, auth_data=data)  # kept as session.auth_data

    def _protocol(self) -> SMTP:
        return SMTP(
            _Handler(self), hostname="receiver.test", loop=self._loop,
            tls_context=self._cert.server_context() if self.security == "starttls" else None,
            authenticator=self._authenticate if self._login else None,
            # aiosmtpd counts only STARTTLS as TLS: behind implicit TLS it would offer no AUTH.
            auth_require_tls=self.security == "starttls",
        )

    def start(self) -> None:
        self._thread.start()
        ssl_context = self._cert.server_context() if self.security == "ssl" else None
        create = self._loop.create_server(self._protocol, host="127.0.0.1", port=0, ssl=ssl_context)
        self._server = asyncio.run_coroutine_threadsafe(create, self._loop).result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()
            # A session a failed test left open: end it, so the loop stops with no task pending.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]  # decoded, as a server reads it
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("ascii"), keep_blank_values=True))


Answer = tuple[int, Any]  # status, and a body: bytes as they are, anything else as JSON


def _robot_ok(request: Received) -> Answer:
    return 200, {"errcode": 0, "errmsg": "ok"}


@dataclass
class HttpReceiver:
    """Records every request; answers with ``answer(request)`` (default: a robot's "ok").
    While ``hold`` is not set, requests wait for it before being answered."""

    answer: Callable[[Received], Answer] = _robot_ok
    hold: asyncio.Event | None = None
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    _in_flight: set[asyncio.Task] = field(default_factory=set)

    def reset(self) -> None:
        self.answer, self.hold = _robot_ok, None
        self.requests.clear()

    async def settle(self) -> None:
        """Let every request being answered finish (a held one is released first)."""
        if self.hold is not None:
            self.hold.set()
        await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        assert scope["type"] == "http", scope["type"]
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            await self._serve(scope, receive, send)
        finally:
            self._in_flight.discard(task)

    async def _serve(self, scope: dict, receive: Callable, send: Callable) -> None:
        body, more = b"", True
        while more:
            event = await receive()
            body += event.get("body", b"")
            more = event.get("more_body", False)
        request = Received(
            method=scope["method"], path=scope["path"],
            query=dict(parse_qsl(scope["query_string"].decode("ascii"), keep_blank_values=True)),
            headers={name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]},
            body=body,
        )
        self.requests.append(request)
        if self.hold is not None:
            await self.hold.wait()
        status, payload = self.answer(request)
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        kind = b"text/plain; charset=utf-8" if isinstance(payload, bytes) else b"application/json"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    @property
    def last(self) -> Received:
        assert self.requests, "the receiver got no request"
        return self.requests[-1]


class _Server(uvicorn.Server):
    def capture_signals(self):
        return contextlib.nullcontext()


@contextlib.asynccontextmanager
async def serving(receiver: HttpReceiver, *, port: int = 0) -> AsyncIterator[HttpReceiver]:
    """``receiver`` on 127.0.0.1:``port`` (0: an ephemeral one) until the block ends; a test
    can serve it again on the same port, as a receiver that was down comes back."""
    server = _Server(uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the HTTP receiver did not start"
            await asyncio.sleep(0.005)
        receiver.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        yield receiver
    finally:
        await receiver.settle()  # a held request would keep the server from stopping
        server.should_exit = True
        await task
