"""The README documents the settings exactly as the code defines them."""

from __future__ import annotations

from streams.settings import settings_table
from tests.support.paths import REPO_ROOT

README = REPO_ROOT / "README.md"


def test_readme_settings_table_matches_the_code() -> None:
    text = README.read_text()
    documented = text.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0]
    assert documented.strip() == settings_table().strip(), (
        "README settings table is stale: paste `interests settings --markdown`"
    )


def test_readme_shows_the_ci_test_command() -> None:
    ci = (README.parent / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in README.read_text()
