"""How the service's clients authenticate to Kafka, and the user id pseudonyms.

Every Kafka client of the service (the faust app, the workers' output producer,
the trainer's announcements, ``forget``'s tombstones and end offsets, topic
creation, the devtools' producers and consumers) takes its security options from
:func:`kafka_client_options` (aiokafka) or :func:`faust_credentials` (faust), so
one set of settings secures them all. Secrets go into the clients only; the
settings print them as ``***`` (:meth:`~streams.settings.Settings.shown_env`).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from aiokafka.helpers import create_ssl_context

from state.pseudonym import PseudonymKeyError, Pseudonyms
from streams.settings import Settings, SettingsError

if TYPE_CHECKING:  # faust takes seconds to import: only the worker needs it
    from faust.types.auth import CredentialsT


def user_pseudonyms(settings: Settings) -> Pseudonyms:
    """The user id pseudonyms of ``settings``: keyed, or ids unchanged when no key is set."""
    try:
        return Pseudonyms.from_secret(settings.user_id_key, settings.user_id_key_file)
    except PseudonymKeyError as exc:
        raise SettingsError(f"INTERESTS_USER_ID_KEY: {exc}") from None


def _uses_ssl(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def _uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def check_kafka_security(settings: Settings) -> None:
    """Refuse settings that would not do what they say: SASL without a user or password,
    TLS files with a protocol that sends them nowhere, a key without its certificate."""
    files = {
        "INTERESTS_KAFKA_SSL_CA": settings.kafka_ssl_ca,
        "INTERESTS_KAFKA_SSL_CERT": settings.kafka_ssl_cert,
        "INTERESTS_KAFKA_SSL_KEY": settings.kafka_ssl_key,
    }
    given = [name for name, value in files.items() if value]
    if given and not _uses_ssl(settings):
        raise SettingsError(
            f"{', '.join(given)} set but INTERESTS_KAFKA_SECURITY_PROTOCOL is "
            f"{settings.kafka_security_protocol}: use SSL or SASL_SSL"
        )
    if bool(settings.kafka_ssl_cert) != bool(settings.kafka_ssl_key):
        raise SettingsError(
            "INTERESTS_KAFKA_SSL_CERT and INTERESTS_KAFKA_SSL_KEY go together: set both or neither"
        )
    if _uses_sasl(settings) and not (settings.kafka_sasl_username and settings.kafka_sasl_password):
        raise SettingsError(
            f"INTERESTS_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
            "INTERESTS_KAFKA_SASL_USERNAME and INTERESTS_KAFKA_SASL_PASSWORD"
        )
    if not _uses_sasl(settings) and settings.kafka_sasl_username:
        raise SettingsError(
            "INTERESTS_KAFKA_SASL_USERNAME set but INTERESTS_KAFKA_SECURITY_PROTOCOL is "
            f"{settings.kafka_security_protocol}: use SASL_PLAINTEXT or SASL_SSL"
        )


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of ``SSL``/``SASL_SSL`` (server checked against the CA and its
    host name; the system's CAs without a CA file); None for plain-text protocols."""
    check_kafka_security(settings)
    if not _uses_ssl(settings):
        return None
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.kafka_ssl_ca or None,
            certfile=settings.kafka_ssl_cert or None,
            keyfile=settings.kafka_ssl_key or None,
        )
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"INTERESTS_KAFKA_SSL_*: cannot load the TLS files: {exc}") from None
    return context


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for every aiokafka client (producer, consumer, admin)."""
    context = kafka_ssl_context(settings)
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if context is not None:
        options["ssl_context"] = context
    if _uses_sasl(settings):
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return options


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """faust's ``broker_credentials`` for the same settings (None: plain text)."""
    from faust.auth import SASLCredentials, SSLCredentials

    context = kafka_ssl_context(settings)
    if _uses_sasl(settings):
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def security_summary(settings: Settings) -> str:
    """One start-up line saying how Kafka is reached and whether ids are pseudonymised;
    checks every security setting first (a bad one is a one-line error, not a failure
    after the services were waited for). Names no secret."""
    kafka_ssl_context(settings)
    pseudonyms = user_pseudonyms(settings)
    kafka = settings.kafka_security_protocol
    if _uses_sasl(settings):
        kafka += f" ({settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username})"
    ids = "pseudonymised (HMAC-SHA-256)" if pseudonyms.enabled else "kept as they come"
    return f"Kafka {kafka}; user ids {ids}"
