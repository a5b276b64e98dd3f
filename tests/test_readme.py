"""What the README promises a new user holds: its settings table and its two commands."""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from types import ModuleType

from streams.settings import settings_table
from tests.support.paths import REPO_ROOT

README = REPO_ROOT / "README.md"


def test_readme_settings_table_matches_the_code() -> None:
    text = README.read_text()
    documented = text.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0]
    assert documented.strip() == settings_table().strip(), (
        "README settings table is stale: paste `interests settings --markdown`"
    )


def two_commands() -> list[str]:
    section = README.read_text().split("## Two commands")[1].split("\n## ")[0]
    return re.findall(r"```\n(.+?)\n```", section)


def test_the_two_commands_are_scripts_that_ci_runs() -> None:
    assert two_commands() == ["./scripts/demo", "./scripts/test"]
    for command in two_commands():
        assert os.access(REPO_ROOT / command, os.X_OK), f"{command} is not executable"
    ci = (REPO_ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == "./scripts/test"


def test_the_test_command_installs_every_extra_and_the_cpu_torch_first() -> None:
    """The README: both install torch's local CPU build first, then the project with its extras."""
    setup = (REPO_ROOT / "scripts" / "setup").read_text()
    test = (REPO_ROOT / "scripts" / "test").read_text()
    torch_at = setup.index('pip install -q "torch==${TORCH_VERSION:-2.13.0}"')
    project = re.search(r'pip install -q -e "\.\[([a-z,]+)\$\{EXTRAS:-\}\]"', setup)
    assert project is not None and torch_at < project.start()
    extra = re.search(r'EXTRAS="(,[a-z,]+)"', test)
    assert extra is not None
    installed = set((project.group(1) + extra.group(1)).split(","))
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert installed == set(pyproject["project"]["optional-dependencies"])


def _quality_runs() -> ModuleType:
    """benchmarks/quality.py, the runs behind the README's quality figures (not a package)."""
    path = REPO_ROOT / "benchmarks" / "quality.py"
    spec = importlib.util.spec_from_file_location("quality", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_quality_figure_has_its_command_and_its_run_file() -> None:
    """The quality block's table is what `benchmarks/quality.py --table` makes of the stored
    runs, and each run's command beside it is the one that wrote that run."""
    quality = _quality_runs()
    block = README.read_text().split("<!-- quality:start -->")[1].split("<!-- quality:end -->")[0]
    table = quality.table(REPO_ROOT / "benchmarks" / "results")
    assert "\n".join(table) in block, "stale: paste `benchmarks/quality.py --table`"
    for name in quality.RUNS:
        assert f"- `{name}`: `{quality.command(name)}`" in block, name
