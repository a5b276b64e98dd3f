"""CPU cost of the GRU's training recipe: trained positions per CPU-second, A/B in alternation.

CPU time, not wall time, so that a busy shared machine slows both sides alike.
One torch thread; the first ``--sequences`` amazon-toys training sequences
in a seeded order; each recipe ``--repeats`` times, alternating.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu_step_ab.py ../shared/data/amazon-toys.txt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gpu_sweep import _Rows, read_sequences
from models.long_term import (
    GRUConfig,
    GRURecommender,
    batch_loss,
    make_training_examples,
)
from models.long_term.fit import encode, training_sequences

RECIPES = {  # name: (batch size, learning rate, bf16 logits)
    "main: batch 128, lr 0.003, fp32 logits": (128, 3e-3, False),
    "batch 256, lr 0.006, bf16 logits": (256, 6e-3, True),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--sequences", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sequences = {u: s[-200:] for u, s in read_sequences(args.data).items()}
    rows = _Rows(sequences)
    trainable = training_sequences(encode(sequences, rows).values(), 50)
    inputs_np, targets_np = make_training_examples(trainable, 50)
    inputs, targets = torch.from_numpy(inputs_np), torch.from_numpy(targets_np)
    order = torch.randperm(inputs.shape[0], generator=torch.Generator().manual_seed(0))
    rates: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, (batch, lr, amp) in RECIPES.items():
            model = GRURecommender(GRUConfig(len(rows.ids), 64, dropout=0.3, max_len=50)).train()
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            positions, started = 0, time.process_time()
            for start in range(0, args.sequences, batch):
                picked = order[start : start + batch]
                width = int((inputs[picked] != 0).sum(dim=1).max())
                x, y = inputs[picked, :width], targets[picked, :width]
                loss = batch_loss(model, x, y, None, amp=True, cpu_bf16=amp)
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                positions += int((x != 0).sum())
            rate = positions / (time.process_time() - started)
            rates.setdefault(name, []).append(rate)
            print(f"{name}: {rate:.0f} positions per CPU-second", flush=True)
    for name, values in rates.items():
        print(f"mean {name}: {sum(values) / len(values):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
