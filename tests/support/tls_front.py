"""A TLS front for the embedded broker, which speaks plain text only.

Tansu 0.6.0 (the embedded broker) has no working TLS listener here and takes
SASL only from users kept in a persistent store, so the Kafka TLS tests put this
terminator in front of it: clients connect with TLS (server certificate checked,
client certificate required), and the bytes go on in plain text over loopback to
a broker that advertises the TLS port, so every connection a client makes after
the bootstrap goes through TLS too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(certs: Path) -> None:
    """A CA, then a server (127.0.0.1, localhost) and a client certificate it signs."""
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=interests-test-ca", cwd=certs)  # fmt: skip
    (certs / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (certs / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for serial, name in enumerate(("server", "client"), 2):
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=interests-{name}", cwd=certs)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", str(serial), "-days", "2", "-out", f"{name}.crt",
                "-extfile", f"{name}.ext", cwd=certs)  # fmt: skip


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.contextmanager
def tls_front(listen_port: int, origin_port: int, certs: Path) -> Iterator[list[int]]:
    """Terminate TLS on ``listen_port`` (client certificates required), forward to
    ``origin_port``; yields a list that counts the TLS connections accepted."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.crt"))
    context.load_cert_chain(certs / "server.crt", certs / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    accepted: list[int] = []
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", origin_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port, ssl=context)
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield accepted
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
