"""How Redis clients are built from the URL and the TLS file settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from state.connection import (
    RedisConnectionError,
    RedisEndpoint,
    async_client,
    client_options,
    redacted_url,
    sync_client,
)
from streams.settings import Settings


def _files(tmp_path: Path) -> dict[str, str]:
    names = {"redis_tls_ca": "ca.crt", "redis_tls_cert": "c.crt", "redis_tls_key": "c.key"}
    for name in names.values():
        (tmp_path / name).write_text("-----BEGIN-----\n")
    return {field: str(tmp_path / name) for field, name in names.items()}


def test_tls_files_become_verified_tls_options(tmp_path: Path) -> None:
    files = _files(tmp_path)
    endpoint = RedisEndpoint("rediss://svc:pw@redis:6380/0", **files)
    assert client_options(endpoint) == {
        "ssl_ca_certs": files["redis_tls_ca"],
        "ssl_certfile": files["redis_tls_cert"],
        "ssl_keyfile": files["redis_tls_key"],
        "ssl_cert_reqs": "required",
    }
    pool = sync_client(endpoint).connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["username"] == "svc"
    assert pool.connection_kwargs["ssl_ca_certs"] == files["redis_tls_ca"]
    assert (
        async_client(endpoint).connection_pool.connection_kwargs["ssl_keyfile"]
        == (files["redis_tls_key"])
    )


def test_the_service_settings_are_accepted_as_they_are(tmp_path: Path) -> None:
    files = _files(tmp_path)
    settings = Settings.from_env({}, redis_url="rediss://h:6380/0", **files)
    assert client_options(settings)["ssl_certfile"] == files["redis_tls_cert"]


def test_tls_files_with_a_plain_url_are_refused(tmp_path: Path) -> None:
    files = _files(tmp_path)
    with pytest.raises(RedisConnectionError, match="rediss://"):
        client_options(RedisEndpoint("redis://h:6379/0", redis_tls_ca=files["redis_tls_ca"]))


def test_a_key_without_its_certificate_and_missing_files_are_refused(tmp_path: Path) -> None:
    files = _files(tmp_path)
    with pytest.raises(RedisConnectionError, match="certificate"):
        client_options(RedisEndpoint("rediss://h:6380/0", redis_tls_key=files["redis_tls_key"]))
    missing = str(tmp_path / "nope.crt")
    with pytest.raises(RedisConnectionError, match=r"nope\.crt"):
        client_options(RedisEndpoint("rediss://h:6380/0", redis_tls_ca=missing))


def test_plain_and_system_ca_tls_urls_need_no_options() -> None:
    assert client_options(RedisEndpoint("rediss://h:6380/0")) == {}
    assert sync_client(RedisEndpoint("redis://h:6379/0")).connection_pool.connection_class is (
        redis.Connection
    )


secrets = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1)


@given(user=secrets, password=secrets, scheme=st.sampled_from(["redis", "rediss"]))
def test_redacted_url_never_shows_the_password(user: str, password: str, scheme: str) -> None:
    url = f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@redis.internal:6380/2"
    assert redacted_url(url) == f"{scheme}://{quote(user, safe='')}:***@redis.internal:6380/2"


@given(st.sampled_from(["redis://h:1/0", "rediss://user@h:1/0", "unix:///tmp/r.sock?db=1"]))
def test_urls_without_a_password_are_left_alone(url: str) -> None:
    assert redacted_url(url) == url
