"""The trainer and ``interests evaluate`` set torch's threads from INTERESTS_TORCH_THREADS
and say so (the trainer with each training, evaluate on stderr)."""

from __future__ import annotations

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


def test_the_trainer_applies_the_thread_setting_and_keeps_its_description() -> None:
    torch.set_num_threads(2)
    # Redis is not contacted: the client connects on first use.
    trainer = Trainer(Settings(torch_threads=1, redis_url="redis://127.0.0.1:1/0"))
    trainer.close()
    assert torch.get_num_threads() == 1
    # refresh_once logs it with each training.
    assert "torch threads 1" in trainer.threads.describe()


def test_evaluate_applies_and_reports_the_thread_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    torch.set_num_threads(2)
    assert main(DRIFT, Settings(torch_threads=1)) == 0
    assert torch.get_num_threads() == 1
    assert "torch threads 1" in capsys.readouterr().err
