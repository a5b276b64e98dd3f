"""Kafka client security options and secrets in printed settings (streams/security.py).

The TLS options are also tested live (tests/streams/test_kafka_tls.py). SASL is not:
the embedded broker (Tansu 0.6.0) offers SCRAM only for users created through an
authenticated connection or kept in a persistent store, which in-memory storage is
not; so here the options are checked to be what aiokafka and faust expect, and that
the faust app's credentials and the aiokafka clients' options agree.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.security import (
    check_kafka_security,
    faust_credentials,
    kafka_client_options,
    security_summary,
    user_pseudonyms,
)
from streams.settings import Settings, SettingsError
from streams.worker.app import create_app
from tests.support.tls_front import make_certs

PASSWORD = "kafka-pa55word"
USER_KEY = "user-id-key-0123456789"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("certs")
    make_certs(path)
    return path


def _tls(certs: Path, **more: str) -> Settings:
    return Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca=str(certs / "ca.crt"),
        kafka_ssl_cert=str(certs / "client.crt"),
        kafka_ssl_key=str(certs / "client.key"),
        **more,
    )


def _sasl(protocol: str = "SASL_PLAINTEXT", mechanism: str = "SCRAM-SHA-256") -> Settings:
    return Settings(
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="svc",
        kafka_sasl_password=PASSWORD,
    )


def test_plain_text_by_default() -> None:
    assert kafka_client_options(Settings()) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(Settings()) is None


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_options_and_faust_credentials_agree(mechanism: str) -> None:
    settings = _sasl(mechanism=mechanism.lower())  # case-insensitive
    options = kafka_client_options(settings)
    assert options == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "svc",
        "sasl_plain_password": PASSWORD,
    }
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials)
    assert PASSWORD not in repr(credentials)
    as_faust_sends_it = dict(credentials_to_aiokafka_auth(credentials))
    assert as_faust_sends_it.pop("ssl_context") is None
    assert as_faust_sends_it == options


def test_tls_checks_the_server_and_presents_the_client_certificate(certs: Path) -> None:
    options = kafka_client_options(_tls(certs))
    context = options["ssl_context"]
    assert options["security_protocol"] == "SSL"
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any("interests-test-ca" in str(c["subject"]) for c in context.get_ca_certs())
    credentials = faust_credentials(_tls(certs))
    assert isinstance(credentials, SSLCredentials)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SSL"


def test_sasl_over_tls(certs: Path) -> None:
    settings = _tls(certs).replace(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password=PASSWORD,
    )
    options = kafka_client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    faust_side = dict(credentials_to_aiokafka_auth(faust_credentials(settings)))
    assert faust_side["security_protocol"] == "SASL_SSL"
    assert faust_side["sasl_mechanism"] == "SCRAM-SHA-512"


def test_every_aiokafka_client_and_the_faust_app_take_the_options(certs: Path) -> None:
    settings = _tls(certs).replace(
        kafka_security_protocol="SASL_SSL", kafka_sasl_username="u", kafka_sasl_password="p"
    )

    async def build() -> None:  # constructing validates the arguments; nothing connects
        options = kafka_client_options(settings)
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **options)
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", **options)
        admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:1", **options)
        for client in (producer.client, consumer._client, admin._client):
            assert client._security_protocol == "SASL_SSL"
            assert client._sasl_mechanism == "PLAIN"
        await producer.stop()
        await consumer.stop()
        await admin.close()

    asyncio.run(build())
    app = create_app(settings)
    assert isinstance(app.conf.broker_credentials, SASLCredentials)
    assert app.conf.broker_credentials.ssl_context is not None


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "needs INTERESTS_KAFKA_SASL_USERNAME"),
        ({"kafka_ssl_ca": "/ca.crt"}, "use SSL or SASL_SSL"),
        ({"kafka_sasl_username": "u"}, "use SASL_PLAINTEXT or SASL_SSL"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cert": "/c.crt"},
            "set both or neither",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_ca": "/nowhere/ca.crt"},
            "cannot load the TLS files",
        ),
    ],
)
def test_settings_that_would_not_do_what_they_say_are_refused(
    changes: dict[str, str], refusal: str
) -> None:
    with pytest.raises(SettingsError, match=refusal):
        kafka_client_options(Settings(**changes))


def test_unknown_protocols_and_mechanisms_are_refused() -> None:
    with pytest.raises(SettingsError, match="INTERESTS_KAFKA_SECURITY_PROTOCOL"):
        Settings(kafka_security_protocol="TLS")
    with pytest.raises(SettingsError, match="INTERESTS_KAFKA_SASL_MECHANISM"):
        Settings(kafka_sasl_mechanism="GSSAPI")
    check_kafka_security(Settings())


def test_a_short_user_id_key_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match=r"INTERESTS_USER_ID_KEY: .*at least 16"):
        user_pseudonyms(Settings(user_id_key="short"))
    assert user_pseudonyms(Settings(user_id_key=USER_KEY)).enabled


def test_secrets_are_never_printed() -> None:
    settings = _sasl().replace(user_id_key=USER_KEY, redis_url="rediss://svc:redis-pw@h:6380/0")
    shown = settings.shown_env()
    assert shown["INTERESTS_KAFKA_SASL_PASSWORD"] == "***"
    assert shown["INTERESTS_USER_ID_KEY"] == "***"
    assert shown["INTERESTS_REDIS_URL"] == "rediss://svc:***@h:6380/0"
    for text in (str(shown), repr(settings), str(settings)):
        assert PASSWORD not in text and USER_KEY not in text and "redis-pw" not in text
    assert settings.as_env()["INTERESTS_KAFKA_SASL_PASSWORD"] == PASSWORD  # for children
    printed = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "settings"],
        env={**settings.as_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert "INTERESTS_KAFKA_SASL_PASSWORD=***" in printed.stdout
    assert PASSWORD not in printed.stdout and USER_KEY not in printed.stdout


def test_a_refused_url_is_shown_without_its_password() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings(redis_url="http://svc:redis-pw@h:6380/0")
    assert "redis-pw" not in str(refused.value) and "svc:***@h" in str(refused.value)


def test_the_start_up_line_says_how_but_names_no_secret() -> None:
    line = security_summary(_sasl("SASL_PLAINTEXT", "SCRAM-SHA-256").replace(user_id_key=USER_KEY))
    assert (
        line == "Kafka SASL_PLAINTEXT (SCRAM-SHA-256 as svc); user ids pseudonymised (HMAC-SHA-256)"
    )
    assert security_summary(Settings()) == "Kafka PLAINTEXT; user ids kept as they come"
    with pytest.raises(SettingsError, match="INTERESTS_USER_ID_KEY"):
        security_summary(Settings(user_id_key="short"))
