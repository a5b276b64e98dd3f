"""The CLI's one place for failures: one line and the exit status, whatever the command."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.cli.errors import UsageError, invoke
from streams.cli.params import FRACTION, POSITIVE_FLOAT, POSITIVE_INT, current_settings
from streams.devtools.datasets import DatasetError
from streams.settings import Settings, SettingsError
from tests.support.paths import REPO_ROOT


def failing(exc: BaseException) -> click.Command:
    @click.command()
    def command() -> int:
        raise exc

    return command


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (UsageError("--x is wrong"), 2),
        (SettingsError("INTERESTS_TOP_K: bad"), 2),
        (DatasetError("f.txt:3: expected 'user item'"), 2),
        (FileNotFoundError("no such data file: f.txt"), 2),
        (ConnectionRefusedError("Connection refused"), 1),
        (OSError("host unreachable"), 1),
    ],
)
def test_known_failures_are_one_line_with_their_status(
    exc: Exception, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke(failing(exc), [], None) == code
    err = capsys.readouterr().err
    assert err == f"interests: error: {exc}\n"


def test_interrupt_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke(failing(KeyboardInterrupt()), [], None) == 130
    assert capsys.readouterr().err == ""


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(ZeroDivisionError):
        invoke(failing(ZeroDivisionError("bug")), [], None)


def test_a_parse_error_points_at_help(capsys: pytest.CaptureFixture[str]) -> None:
    @click.command()
    @click.option("--n", type=POSITIVE_INT)
    def command(n: int) -> int:
        return 0

    assert invoke(command, ["--n", "-3"], None) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "-3 is not a positive integer" in err
    assert err.rstrip().endswith("(see interests --help)")


def test_the_command_returns_its_status_and_sees_the_given_settings() -> None:
    @click.command()
    def command() -> int:
        return current_settings().top_k

    assert invoke(command, [], Settings(top_k=3)) == 3


def test_settings_are_read_from_the_environment_when_none_are_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @click.command()
    def command() -> int:
        return current_settings().top_k

    monkeypatch.setenv("INTERESTS_TOP_K", "4")
    assert invoke(command, [], None) == 4


def _convert(kind: click.ParamType, text: str) -> object:
    return kind.convert(text, None, None)


@given(st.integers(1, 10**12))
def test_positive_ints_are_accepted(n: int) -> None:
    assert _convert(POSITIVE_INT, str(n)) == n


@given(st.integers(max_value=0))
def test_non_positive_ints_are_refused(n: int) -> None:
    with pytest.raises(click.BadParameter, match="not a positive integer"):
        _convert(POSITIVE_INT, str(n))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_positive_floats_are_finite_and_above_zero(x: float) -> None:
    if 0 < x < math.inf:
        assert _convert(POSITIVE_FLOAT, repr(x)) == x
    else:
        with pytest.raises(click.BadParameter, match="not a positive number"):
            _convert(POSITIVE_FLOAT, repr(x))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_fractions_are_strictly_inside_zero_and_one(x: float) -> None:
    if 0 < x < 1:
        assert _convert(FRACTION, repr(x)) == x
    else:
        with pytest.raises(click.BadParameter, match="strictly between 0 and 1"):
            _convert(FRACTION, repr(x))


@pytest.mark.parametrize("text", ["abc", "", "1.5", "1e3"])
def test_words_are_not_integers(text: str) -> None:
    with pytest.raises(click.BadParameter, match="not a positive integer"):
        _convert(POSITIVE_INT, text)


def _interests(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT), **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_misspelt_setting_is_named_with_the_real_one() -> None:
    result = _interests("settings", INTERESTS_TOPK="5")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "interests: warning: INTERESTS_TOPK is not a setting and is ignored; "
        "did you mean INTERESTS_TOP_K?"
    ]
    assert "INTERESTS_TOP_K=20" in result.stdout.splitlines()


def test_a_bad_setting_is_one_line_and_exit_2() -> None:
    result = _interests("settings", INTERESTS_VECTOR_SIZE="big")
    assert result.returncode == 2
    assert result.stderr.startswith("interests: error: INTERESTS_VECTOR_SIZE:")
    assert result.stderr.count("\n") == 1


def test_no_command_is_a_usage_error() -> None:
    result = _interests()
    assert result.returncode == 2 and result.stderr.count("\n") == 1
