"""torch's thread count is chosen from the idle cores and applied, never left to torch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from models.long_term.threads import apply_threads, choose_threads


@pytest.fixture(autouse=True)
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_busy_machine_gets_one_thread_per_idle_core_and_never_none() -> None:
    assert choose_threads(0, cpus=2, load=1.4) == 1
    assert choose_threads(0, cpus=2, load=7.0) == 1
    assert choose_threads(0, cpus=16, load=3.0) == 13
    assert choose_threads(0, cpus=4, load=0.0) == 4


def test_a_requested_count_wins_over_the_load() -> None:
    assert choose_threads(5, cpus=2, load=9.0) == 5


def test_the_requested_count_is_applied_to_torch() -> None:
    torch.set_num_threads(2)
    choice = apply_threads(1)
    assert torch.get_num_threads() == 1
    assert (choice.threads, choice.automatic) == (1, False)
    assert "torch threads 1" in choice.describe()


def test_the_automatic_count_is_applied_to_torch_and_explained() -> None:
    choice = apply_threads(0)
    assert choice.automatic
    assert torch.get_num_threads() == choice.threads
    assert choice.threads == choose_threads(0, choice.cpus, choice.load)
    assert f"{choice.cpus} CPUs" in choice.describe()
