"""The sender's STARTTLS, implicit TLS and login settings, against aiosmtpd with a test CA.

The certificate is made by the `openssl` command line for 127.0.0.1; the
client trusts exactly it, so these tests also prove we verify certificates.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from rapport.channels.email.outbound import EmailSender, SmtpServer
from rapport.crm.channel import TransientFailure
from rapport.crm.messages import OutboundMessage
from rapport.crm.settings import SmtpSecurity
from tests.support.email_sink import Sink

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="TLS tests make their certificate with openssl"
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


class Accounts:
    """aiosmtpd authenticator accepting one user and password."""

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"shop", b"pw")
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)


async def started(sink: Sink) -> AsyncIterator[Sink]:
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
async def starttls_sink(server_tls: ssl.SSLContext) -> AsyncIterator[Sink]:
    sink = Sink(
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=Accounts(),
    )
    async for running in started(sink):
        yield running


def sender(
    port: int, security: SmtpSecurity, context: ssl.SSLContext, password: str = "pw"
) -> EmailSender:
    server = SmtpServer(
        "127.0.0.1", port, security=security, username="shop", password=password,
        timeout=5, tls_context=context,
    )  # fmt: skip
    return EmailSender(server, "shop@example.com")


async def test_starttls_then_login_then_send(
    starttls_sink: Sink, client_tls: ssl.SSLContext
) -> None:
    channel = sender(starttls_sink.port, SmtpSecurity.STARTTLS, client_tls)
    await channel.send("a@example.org", OutboundMessage(text="over TLS"))
    await channel.close()
    (got,) = starttls_sink.received
    assert got.tls
    assert got.login == b"shop"


async def test_wrong_password_is_transient_and_names_the_settings(
    starttls_sink: Sink, client_tls: ssl.SSLContext
) -> None:
    channel = sender(starttls_sink.port, SmtpSecurity.STARTTLS, client_tls, password="bad")
    with pytest.raises(TransientFailure, match="RAPPORT_SMTP_PASSWORD"):
        await channel.send("a@example.org", OutboundMessage(text="x"))
    await channel.close()
    assert starttls_sink.received == []


async def test_untrusted_certificate_is_refused(starttls_sink: Sink) -> None:
    channel = sender(starttls_sink.port, SmtpSecurity.STARTTLS, ssl.create_default_context())
    with pytest.raises(TransientFailure):
        await channel.send("a@example.org", OutboundMessage(text="x"))
    await channel.close()
    assert starttls_sink.received == []


async def test_starttls_required_but_not_offered_never_falls_back_to_plaintext(
    client_tls: ssl.SSLContext,
) -> None:
    async for plain in started(Sink()):
        channel = sender(plain.port, SmtpSecurity.STARTTLS, client_tls)
        with pytest.raises(TransientFailure):
            await channel.send("a@example.org", OutboundMessage(text="x"))
        await channel.close()
        assert plain.received == []


async def test_implicit_tls(server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    async for smtps in started(
        Sink(ssl=server_tls, authenticator=Accounts(), auth_require_tls=False)
    ):
        channel = sender(smtps.port, SmtpSecurity.TLS, client_tls)
        await channel.send("a@example.org", OutboundMessage(text="wrapped"))
        await channel.close()
        (got,) = smtps.received
        assert got.tls
        assert got.login == b"shop"
