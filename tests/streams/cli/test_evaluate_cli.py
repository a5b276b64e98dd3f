"""``interests evaluate`` end to end on a slice of every data file, and the synthetic drift."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.cli.evaluate import main
from streams.settings import Settings
from tests.support.paths import DATA_DIR

pytestmark = pytest.mark.slow

DATA = DATA_DIR
QUICK = ["--dim", "8", "--epochs", "1", "--max-len", "20", "--seed", "1"]
VARIANTS = ["popularity", "river_mf", "short_term", "long_term", "blend"]
STREAM_VARIANTS = [*VARIANTS, "fusion"]  # score-level fusion: streaming protocols only


def evaluate(argv: list[str]) -> int:
    return main(argv, Settings.from_env({}))


def report(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(path.read_bytes())
    return body


@pytest.mark.timeout(60)
def test_prequential_on_movielens_writes_table_json_and_plot(tmp_path, capsys):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    argv = ["--data", str(DATA / "ml-100k.inter"), "--limit", "1500", "--refresh-every", "700"]
    assert evaluate([*argv, *QUICK, "--out", str(out), "--plot", str(png)]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in STREAM_VARIANTS) and "NDCG@10" in printed
    body = report(out)
    assert body["protocol"] == "prequential" and body["info"]["events"] == 1500
    assert [v["name"] for v in body["variants"]] == STREAM_VARIANTS
    assert len(body["info"]["refreshes"]) == 2
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.timeout(60)
def test_prequential_on_video_game_pairs(tmp_path):
    out = tmp_path / "r.json"
    argv = ["--data", str(DATA / "amazon-video-games.txt"), "--limit", "2000"]
    assert evaluate([*argv, "--refresh-every", "1000", *QUICK, "--out", str(out)]) == 0
    body = report(out)
    assert body["info"]["events"] == 2000 and body["variants"][0]["evaluated"] == 2000


@pytest.mark.timeout(60)
def test_leave_one_out_on_toys_excluding_seen_items(tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["--protocol", "loo", "--data", str(DATA / "amazon-toys.txt"), "--limit", "300"]
    assert evaluate([*argv, "--exclude-seen", *QUICK, "--out", str(out)]) == 0
    body = report(out)
    assert body["info"]["exclude_seen"] is True
    assert all(v["evaluated"] == 300 for v in body["variants"])
    assert all(v["coverage"] is not None for v in body["variants"])
    assert "coverage" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_leave_one_out_on_movielens(tmp_path):
    out = tmp_path / "r.json"
    argv = [
        "--protocol",
        "loo",
        "--data",
        str(DATA / "ml-100k.inter"),
        "--limit",
        "60",
        "--patience",
        "1",
    ]
    assert evaluate([*argv, *QUICK, "--out", str(out)]) == 0
    assert report(out)["variants"][0]["evaluated"] == 60


@pytest.mark.timeout(60)
def test_drift_on_synthetic_users(tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["--protocol", "drift", "--limit", "3000", "--users", "30", "--refresh-every", "1500"]
    assert evaluate([*argv, *QUICK, "--half-life", "300", "--out", str(out)]) == 0
    body = report(out)
    assert [d["name"] for d in body["drift"]] == STREAM_VARIANTS
    assert body["drift"][0]["switches"] > 0
    assert "median" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_same_seed_same_report(tmp_path):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    argv = ["--data", str(DATA / "ml-100k.inter"), "--limit", "800", "--refresh-every", "400"]
    for path in paths:
        assert evaluate([*argv, *QUICK, "--out", str(path)]) == 0
    first, second = (report(p) for p in paths)
    assert first["variants"] == second["variants"] and first["curves"] == second["curves"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--protocol", "loo"], "--data is required"),
        (["--data", "/no/such/file.txt"], "no such data file"),
        (["--data", str(DATA / "ml-100k.inter"), "--format", "pairs", "--limit", "5"], "expected"),
    ],
)
def test_bad_input_is_one_line(argv, message, capsys):
    assert evaluate(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--refresh-every", "0"], "'--refresh-every': 0 is not a positive integer"),
        (["--dropout", "1"], "'--dropout': 1 is not in [0, 1)"),
        (["--blend-prior", "1.5"], "'--blend-prior': 1.5 is not strictly between 0 and 1"),
        (["--protocol", "kfold"], "'--protocol'"),
    ],
)
def test_bad_flags_are_refused_by_the_parser_in_one_line(argv, message, capsys):
    assert evaluate(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def planted_sequences(path: Path, users: int = 300, items: int = 60, length: int = 12) -> None:
    """Every user walks the catalogue in one order (item i, then i+1): the next item is
    predictable from the last, so a model that learns anything ranks it high."""
    rng = random.Random(0)
    with path.open("w") as f:
        for u in range(users):
            start = rng.randrange(items)
            walk = " ".join(f"i{(start + j) % items}" for j in range(length))
            f.write(f"u{u} {walk}\n")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "protocol", [["--protocol", "loo", "--exclude-seen"], ["--refresh-every", "1200"]]
)
def test_every_learner_beats_popularity_on_a_planted_stream(tmp_path, protocol):
    data, out = tmp_path / "planted.txt", tmp_path / "r.json"
    planted_sequences(data)
    argv = [*protocol, "--data", str(data), "--dim", "16", "--epochs", "20", "--seed", "1"]
    assert evaluate([*argv, "--out", str(out)]) == 0
    ndcg = {v["name"]: v["ndcg"] for v in report(out)["variants"]}
    # Popularity is flat here (about 10/60 hits, like a random ranking).
    assert ndcg["popularity"] < 0.15
    for name in ("river_mf", "short_term", "long_term", "blend"):
        assert ndcg[name] > 2 * ndcg["popularity"], (name, ndcg)
