"""``interests evaluate``: flags a protocol does not read are refused; the GRU trains as the
trainer does unless a flag says otherwise."""

from __future__ import annotations

import pytest

from streams.cli.evaluate import APPLIES_TO, PROTOCOLS, EvaluateArgs, build_config, main
from streams.settings import Settings
from streams.trainer.service import refresh_config
from tests.support.paths import DATA_DIR

ML100K = str(DATA_DIR / "ml-100k.inter")
TINY = ["--dim", "8", "--epochs", "1", "--max-len", "20", "--seed", "1"]
# Runs small enough that a command which wrongly accepted the flag finishes in seconds
# (and exits 0, failing the test) instead of running for minutes.
BASE = {
    "prequential": ["--protocol", "prequential", "--data", ML100K, "--limit", "200", *TINY],
    "loo": ["--protocol", "loo", "--data", ML100K, "--limit", "20", *TINY],
    "drift": ["--protocol", "drift", "--limit", "200", "--users", "10", *TINY],
}
FLAG = {
    "data": ["--data", ML100K],
    "fmt": ["--format", "ml100k"],
    "refresh_every": ["--refresh-every", "100"],
    "long_term_mode": ["--long-term-mode", "refresh"],
    "patience": ["--patience", "2"],
    "users": ["--users", "5"],
}
FOREIGN = [
    (name, protocol)
    for name, protocols in APPLIES_TO.items()
    for protocol in PROTOCOLS
    if protocol not in protocols
]


def test_every_flag_with_a_limited_reach_has_a_case() -> None:
    assert set(FLAG) == set(APPLIES_TO)
    assert ("data", "drift") in FOREIGN and ("users", "loo") in FOREIGN
    assert ("patience", "prequential") in FOREIGN and ("refresh_every", "loo") in FOREIGN


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "protocol"), FOREIGN)
def test_a_flag_the_protocol_does_not_read_is_refused_in_one_line(
    name: str, protocol: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*BASE[protocol], *FLAG[name]], Settings.from_env({})) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{FLAG[name][0]} does not apply to --protocol {protocol}" in err
    assert "NDCG" not in captured.out  # refused before any work


def test_a_foreign_flag_is_refused_even_at_its_default_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*BASE["loo"], "--users", "200"], Settings.from_env({})) == 2
    assert "--users does not apply to --protocol loo" in capsys.readouterr().err


# Every GRU setting moved off its default, so a literal in the CLI cannot pass for it.
TRAINER = Settings(
    vector_size=24,
    trainer_epochs=9,
    trainer_patience=6,
    trainer_batch_size=77,
    trainer_learning_rate=0.01,
    trainer_loss="sampled",
    trainer_schedule="constant",
    trainer_label_smoothing=0.05,
    trainer_max_len=33,
    trainer_dropout=0.15,
    short_term_half_life_s=42.0,
    seed=5,
)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_gru_defaults_are_the_trainers_settings(protocol: str) -> None:
    config = build_config(EvaluateArgs(protocol=protocol), TRAINER)
    trainer = refresh_config(TRAINER)
    assert config.long_term == trainer.long_term_config()
    assert config.training == trainer.train
    assert config.patience == trainer.patience == 6
    assert (config.dim, config.training.batch_size, config.long_term.dropout) == (24, 77, 0.15)
    assert (config.training.epochs, config.training.loss, config.long_term.max_len) == (
        9,
        "sampled",
        33,
    )
    assert config.interest.half_life_s == 42.0 and config.seed == 5
    assert (config.training.schedule, config.training.label_smoothing) == ("constant", 0.05)


def test_flags_override_the_settings() -> None:
    args = EvaluateArgs(
        protocol="loo",
        dim=8,
        epochs=2,
        batch_size=16,
        lr=0.05,
        dropout=0.0,
        max_len=10,
        loss="full",
        schedule="onecycle",
        label_smoothing=0.2,
        patience=1,
        half_life=7.0,
        seed=3,
    )
    config = build_config(args, TRAINER)
    assert (config.dim, config.long_term.dropout, config.long_term.max_len) == (8, 0.0, 10)
    training = config.training
    assert (training.epochs, training.batch_size, training.lr, training.loss) == (
        2,
        16,
        0.05,
        "full",
    )
    assert (training.schedule, training.label_smoothing) == ("onecycle", 0.2)
    assert (config.patience, config.interest.half_life_s, config.seed) == (1, 7.0, 3)
    assert config.long_term.seed == config.training.seed == 3
