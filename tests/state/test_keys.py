"""Redis key layout (state/keys.py)."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.keys import Field, KeyLayout

FAST = settings(max_examples=200, deadline=None)
user_ids = st.text(min_size=1, max_size=40).filter(lambda s: "{" not in s and "}" not in s)
prefixes = st.text(max_size=12).filter(lambda s: "{" not in s and "}" not in s)


def cluster_hash_tag(key: str) -> str:
    """What Redis Cluster hashes: the text between the first '{' and the next '}'."""
    start = key.find("{")
    if start < 0:
        return key
    end = key.find("}", start + 1)
    if end < 0 or end == start + 1:
        return key
    return key[start + 1 : end]


def test_user_key_format() -> None:
    assert KeyLayout("ie:").user("u42") == "ie:user:{u42}"


def test_default_prefix_is_the_documented_one() -> None:
    assert KeyLayout().user("u") == "ie:user:{u}"  # INTERESTS_REDIS_PREFIX's default


@FAST
@given(prefix=prefixes, user_id=user_ids)
def test_user_key_hash_tag_is_the_user_id(prefix: str, user_id: str) -> None:
    key = KeyLayout(prefix).user(user_id)
    assert key.endswith("{" + user_id + "}")
    assert cluster_hash_tag(key) == user_id


@FAST
@given(prefix=prefixes, user_id=user_ids, version=st.text(max_size=12))
def test_every_key_starts_with_the_prefix(prefix: str, user_id: str, version: str) -> None:
    keys = KeyLayout(prefix)
    for key in (keys.user(user_id), keys.items(version), keys.model_version(), keys.user_pattern()):
        assert key.startswith(prefix)


def test_other_keys() -> None:
    keys = KeyLayout("p:")
    assert keys.items("v3") == "p:items:v3"
    assert keys.model_version() == "p:model:version"
    assert keys.user_pattern() == "p:user:*}"


@pytest.mark.parametrize("user_id", ["u1", "a b", "ü", "x" * 256])
def test_user_pattern_matches_user_keys(user_id: str) -> None:
    keys = KeyLayout("ie:")
    assert fnmatch.fnmatchcase(keys.user(user_id), keys.user_pattern())


@FAST
@given(prefix=prefixes, a=user_ids, b=user_ids)
def test_different_users_never_share_a_key(prefix: str, a: str, b: str) -> None:
    keys = KeyLayout(prefix)
    assert (keys.user(a) == keys.user(b)) == (a == b)
    assert (keys.history(a) == keys.history(b)) == (a == b)
    assert keys.user(a) != keys.history(b)


def test_field_names_are_distinct() -> None:
    names = [v for k, v in vars(Field).items() if k.isupper()]
    assert len(names) == len(set(names))


def test_write_fields_match_the_lua_script() -> None:
    """The script takes values by position: Python and Lua must agree on the order."""
    import re
    from importlib import resources

    from state.store import WRITE_FIELDS

    lua = resources.files("state").joinpath("apply_user.lua").read_text()
    block = re.search(r"local FIELDS = \{(.*?)\}", lua, re.S)
    assert block is not None
    assert tuple(re.findall(r"'([a-z_]+)'", block.group(1))) == WRITE_FIELDS


def test_history_key_shares_the_users_hash_tag() -> None:
    keys = KeyLayout("ie:")
    assert keys.history("u1").startswith(keys.user("u1"))
    assert keys.user_id_of(keys.history("u1")) == "u1"
    assert not fnmatch.fnmatchcase(keys.history("u1"), keys.user_pattern())
