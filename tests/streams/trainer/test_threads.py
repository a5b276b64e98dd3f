"""The trainer and ``interests evaluate`` set torch's threads from INTERESTS_TORCH_THREADS
and say so in their log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import torch

from streams.cli.evaluate import main
from streams.settings import Settings
from streams.trainer.service import Trainer

DRIFT = ["--protocol", "drift", "--limit", "200", "--users", "10", "--dim", "8", "--epochs", "1"]


@pytest.fixture(autouse=True)
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_trainer_applies_and_logs_the_thread_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    torch.set_num_threads(2)
    # Redis is not contacted: the client connects on first use.
    with caplog.at_level(logging.INFO, logger="streams.trainer.service"):
        trainer = Trainer(Settings(torch_threads=1, redis_url="redis://127.0.0.1:1/0"))
    trainer.close()
    assert torch.get_num_threads() == 1
    assert "torch threads 1" in caplog.text


def test_evaluate_applies_and_reports_the_thread_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    torch.set_num_threads(2)
    assert main(DRIFT, Settings(torch_threads=1)) == 0
    assert torch.get_num_threads() == 1
    assert "torch threads 1" in capsys.readouterr().err
