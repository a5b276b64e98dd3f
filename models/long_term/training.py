"""Next-item training and full-ranking evaluation of the long-term GRU.

Every position of every sequence is a training example (predict item t+1 from
items ..t). Full-softmax cross-entropy is exact; sampled softmax scores the
target against shared uniform negatives for catalogs too large for it.
Seeded: on the CPU two runs with the same seed give identical weights.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.long_term.gru import PAD, GRURecommender, pad_sequences
from models.ranking_metrics import (
    hit_rate_from_ranks,
    mrr_from_ranks,
    ndcg_from_ranks,
    ranks_of_targets,
)

LossKind = Literal["full", "sampled"]
ScheduleKind = Literal["constant", "onecycle"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train; ``device=None`` picks cuda when available, else cpu."""

    epochs: int = 5
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: LossKind = "full"
    n_negatives: int = 256
    seed: int = 0
    device: str | None = None
    amp: bool = True
    cpu_bf16: bool = False
    """bf16 logits on a CPU with bf16 units too (1.2-1.9x faster steps); off: on amazon-toys
    one refresh's gate NDCG@10 was 0.0519 with it against 0.0544 without (one seed, batch 256)."""
    log_every: int = 50
    schedule: ScheduleKind = "constant"
    """``onecycle``: the learning rate rises linearly to ``lr`` over the first ``warmup`` of all
    steps, then falls along a cosine to zero at the last epoch: training converges within the
    ``epochs`` it is given, so a short budget reaches what a long constant-rate run does."""
    warmup: float = 0.1
    label_smoothing: float = 0.0
    """Share of each target's probability spread over the whole catalogue (0: plain CE)."""

    def __post_init__(self) -> None:
        if self.loss not in ("full", "sampled"):
            raise ValueError(f"loss must be 'full' or 'sampled', not {self.loss!r}")
        if self.schedule not in ("constant", "onecycle"):
            raise ValueError(f"schedule must be 'constant' or 'onecycle', not {self.schedule!r}")
        if not (0.0 <= self.warmup < 1.0 and 0.0 <= self.label_smoothing < 1.0):
            raise ValueError(f"warmup and label_smoothing must be in [0, 1): {self}")
        if min(self.epochs, self.batch_size, self.n_negatives, self.log_every) < 1:
            raise ValueError(f"epochs, batch_size, n_negatives, log_every must be >= 1: {self}")


@dataclass(frozen=True)
class TrainProgress:
    """One progress report: running mean loss since the previous report."""

    epoch: int
    step: int
    steps_per_epoch: int
    loss: float
    positions: int


ProgressCallback = Callable[[TrainProgress], None]


@dataclass(frozen=True)
class TrainReport:
    """What a call to :func:`train` did, for logs and the model registry."""

    positions_trained: int
    positions_per_s: float
    final_loss: float
    epochs: int
    device: str
    seconds: float


def resolve_device(requested: str | None) -> torch.device:
    """``requested``, or cuda when available, else cpu."""
    if requested is not None:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_training_examples(
    sequences: Sequence[Sequence[int]], max_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded inputs ``seq[:-1]`` and targets ``seq[1:]``, last ``max_len`` steps.

    Sequences shorter than 2 have no next item and are dropped.

    >>> inputs, targets = make_training_examples([[1, 2, 3, 4], [5, 6], [7]], max_len=2)
    >>> inputs.tolist(), targets.tolist()
    ([[2, 3], [5, 0]], [[3, 4], [6, 0]])
    """
    usable = [list(s) for s in sequences if len(s) >= 2]
    inputs, _ = pad_sequences([s[:-1] for s in usable], max_len)
    targets, _ = pad_sequences([s[1:] for s in usable], max_len)
    return inputs.numpy(), targets.numpy()


def batch_loss(
    model: GRURecommender,
    inputs: Tensor,
    targets: Tensor,
    negatives: Tensor | None = None,
    amp: bool = False,
    cpu_bf16: bool = False,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Mean next-item cross-entropy over the non-padded positions of a batch.

    With ``negatives`` (ids, shared by the batch) it is a sampled softmax of
    the target against them; without, an exact softmax over the whole catalog.
    """
    mask = inputs != PAD
    hidden = model(inputs, mask.sum(dim=1))[mask]
    wanted = targets[mask]
    items = model.item_vectors()
    with _autocast(hidden.device, amp, cpu_bf16):
        if negatives is None:
            # Real items only (rows 1..n), so padding is never a class.
            return full_softmax_loss(hidden, items[1:], wanted - 1, label_smoothing)
        positive = (hidden * items[wanted]).sum(dim=1, keepdim=True)
        sampled = (hidden @ items[negatives].T).float()
    # A negative that is the target itself would push the target down.
    sampled = sampled.masked_fill(negatives[None, :] == wanted[:, None], float("-inf"))
    logits = torch.cat([positive.float(), sampled], dim=1)
    return F.cross_entropy(logits, torch.zeros_like(wanted), label_smoothing=label_smoothing)


def full_softmax_loss(
    hidden: Tensor, items: Tensor, targets: Tensor, label_smoothing: float = 0.0
) -> Tensor:
    """Mean cross-entropy of ``hidden @ items.T`` (P×N logits) against class ``targets``.

    Equal to ``F.cross_entropy`` (``label_smoothing`` included) but never holds
    all P×N logits at once.

    >>> h, w, y = torch.randn(5, 3), torch.randn(7, 3), torch.tensor([0, 6, 2, 2, 1])
    >>> bool(torch.isclose(full_softmax_loss(h, w, y), F.cross_entropy(h @ w.T, y)))
    True
    >>> smooth = F.cross_entropy(h @ w.T, y, label_smoothing=0.1)
    >>> bool(torch.isclose(full_softmax_loss(h, w, y, 0.1), smooth))
    True
    """
    budget = _LOGITS_PER_CHUNK_CUDA if hidden.device.type == "cuda" else _LOGITS_PER_CHUNK_CPU
    rows = max(1, budget // max(items.shape[0], 1))
    loss: Tensor = _ChunkedSoftmaxCE.apply(hidden, items, targets, rows, label_smoothing)  # type: ignore[no-untyped-call]
    return loss


# Logits made at once: cache-sized on the CPU (about 2x faster than one big
# block there), large on the GPU where kernel launches are the cost.
_LOGITS_PER_CHUNK_CPU = 1 << 22
_LOGITS_PER_CHUNK_CUDA = 1 << 28
# Batches with at most this many logits keep their softmax from forward to
# backward (128 MiB of float32) instead of remaking it there.
_KEEP_PROBABILITIES = 1 << 25


class _ChunkedSoftmaxCE(torch.autograd.Function):
    """Full-softmax cross-entropy by chunks of positions; backward remakes the logits."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")  # type: ignore[untyped-decorator]
    def forward(
        ctx: Any, hidden: Tensor, items: Tensor, targets: Tensor, rows: int, smoothing: float
    ) -> Tensor:
        lse = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        picked = torch.empty_like(lse)
        # Smoothed: lse - (1 - s) * logit[target] - s * mean(logits), mean(logits) = h . mean(items)
        mean_item = items.float().mean(dim=0) if smoothing else None
        keep = hidden.shape[0] * items.shape[0] <= _KEEP_PROBABILITIES
        ctx.probs = []
        for start in range(0, hidden.shape[0], rows):
            part = slice(start, start + rows)
            logits = (hidden[part] @ items.T).float()
            picked[part] = logits.gather(1, targets[part, None])[:, 0]
            if mean_item is not None:
                picked[part] = (1.0 - smoothing) * picked[part] + smoothing * (
                    hidden[part].float() @ mean_item
                )
            # One fused softmax pass (logsumexp alone took longer than the matmul).
            # Its largest probability is exp(max - lse) >= 1/N, so lse is exact from it.
            top = logits.amax(dim=1)
            probs = torch.softmax(logits, dim=1)
            lse[part] = top - probs.amax(dim=1).log()
            if keep:  # kept, backward need not remake the logits (a matmul)
                ctx.probs.append(probs)
        ctx.save_for_backward(hidden, items, targets, lse)
        ctx.rows = rows
        ctx.smoothing = smoothing
        ctx.cpu_bf16 = hidden.device.type == "cpu" and torch.is_autocast_enabled("cpu")
        return (lse - picked).mean()

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")  # type: ignore[untyped-decorator]
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None, None, None]:
        hidden, items, targets, lse = ctx.saved_tensors
        grad_hidden = torch.empty_like(hidden)
        grad_items = torch.zeros(items.shape, dtype=torch.float32, device=items.device)
        scale = grad.float() / hidden.shape[0]
        kept: list[Tensor] = ctx.probs
        ctx.probs = []
        # custom_bwd restores cuda autocast only: a CPU bf16 forward gets a bf16 backward here.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=ctx.cpu_bf16):
            for chunk, start in enumerate(range(0, hidden.shape[0], ctx.rows)):
                part = slice(start, start + ctx.rows)
                # d loss / d logits = softmax - onehot(target), per position.
                if kept:
                    probs = kept[chunk]
                else:
                    probs = (hidden[part] @ items.T).float().sub_(lse[part, None]).exp_()
                # Smoothed: softmax - (1 - s) * onehot(target) - s / N.
                hit = 1.0 - ctx.smoothing
                probs[torch.arange(probs.shape[0], device=probs.device), targets[part]] -= hit
                if ctx.smoothing:
                    probs.sub_(ctx.smoothing / probs.shape[1])
                probs.mul_(scale)
                grad_hidden[part] = probs @ items
                grad_items += (probs.T @ hidden[part]).float()
        return grad_hidden, grad_items.to(items.dtype), None, None, None


def _check_ids(sequences: Sequence[Sequence[int]], n_items: int) -> None:
    flat = np.fromiter((i for s in sequences for i in s), dtype=np.int64)
    if flat.size and (flat.min() < 1 or flat.max() > n_items):
        raise ValueError(f"item ids must be in 1..{n_items} (0 is padding)")


def _autocast(
    device: torch.device, amp: bool, cpu_bf16: bool = False
) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast for the catalog-wide score matmul only: on cuda; with ``cpu_bf16``, on CPUs
    with bf16 units too.

    The GRU stays fp32: cuDNN's autocast RNN path runs in fp16, which would
    need a loss scaler, and at this width the recurrence is not the cost.
    On a CPU with AVX512-BF16 or AMX the logits matmul (most of a full-softmax
    step) runs 2-3x faster in bf16; the softmax itself stays fp32.
    """
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if amp and cpu_bf16 and device.type == "cpu" and cpu_has_fast_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (oneDNN's own check)."""
    try:
        available = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
        return bool(available and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _cuda_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """Random batches.

    Batches of similar lengths (less padding for the GRU) were tried: 1.4x
    faster per epoch on amazon-toys, but training stopped earlier at a lower
    validation NDCG@10 (0.046 against 0.054), so the order stays random.
    """
    order = torch.randperm(n, generator=generator)
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


def train(
    model: GRURecommender,
    sequences: Sequence[Sequence[int]],
    config: TrainConfig,
    progress: ProgressCallback | None = None,
) -> TrainReport:
    """Train ``model`` in place for next-item prediction; an existing model continues.

    The model is left on the training device, in eval mode.
    """
    _check_ids(sequences, model.config.n_items)
    inputs_np, targets_np = make_training_examples(sequences, model.config.max_len)
    device = resolve_device(config.device)
    model.to(device).train()
    inputs, targets = torch.from_numpy(inputs_np), torch.from_numpy(targets_np)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(inputs.shape[0] / config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_factor(config, config.epochs * steps_per_epoch)
    )
    generator = torch.Generator().manual_seed(config.seed)
    fork_devices = [_cuda_index(device)] if device.type == "cuda" else []
    started, positions, final_loss = time.perf_counter(), 0, float("nan")
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(config.seed)  # dropout masks
        for epoch in range(config.epochs):
            final_loss, seen = _train_epoch(
                model,
                inputs,
                targets,
                (optimizer, scheduler),
                generator,
                config,
                device,
                epoch,
                progress,
            )
            positions += seen
    model.eval()
    seconds = time.perf_counter() - started
    return TrainReport(
        positions, positions / max(seconds, 1e-9), final_loss, config.epochs, str(device), seconds
    )


def lr_factor(config: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """The learning rate of step ``s`` as a share of ``config.lr`` (see ``TrainConfig.schedule``).

    >>> f = lr_factor(TrainConfig(schedule="onecycle", warmup=0.25), total_steps=8)
    >>> [round(f(s), 2) for s in range(8)]
    [0.5, 1.0, 1.0, 0.93, 0.75, 0.5, 0.25, 0.07]
    """
    if config.schedule == "constant":
        return lambda step: 1.0
    warm = max(1, round(config.warmup * total_steps))
    decay = max(1, total_steps - warm)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        done = min(1.0, (step - warm) / decay)
        return 0.5 * (1.0 + math.cos(math.pi * done))

    return factor


def _train_epoch(
    model: GRURecommender,
    inputs: Tensor,
    targets: Tensor,
    optimization: tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler],
    generator: torch.Generator,
    config: TrainConfig,
    device: torch.device,
    epoch: int,
    progress: ProgressCallback | None,
) -> tuple[float, int]:
    """One pass in a seeded random order; returns (mean loss per position, positions)."""
    optimizer, scheduler = optimization
    batches = _batches(inputs.shape[0], config.batch_size, generator)
    total_loss, total_pos, report_loss, report_pos = 0.0, 0, 0.0, 0
    for step, rows in enumerate(batches, start=1):
        width = max(int((inputs[rows] != PAD).sum(dim=1).max()), 1)  # trim all-pad columns
        x, y = inputs[rows, :width].to(device), targets[rows, :width].to(device)
        negatives = _sample_negatives(model.config.n_items, config, generator, device)
        loss = batch_loss(
            model, x, y, negatives, config.amp, config.cpu_bf16, config.label_smoothing
        )
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
        scheduler.step()
        n_pos, value = int((x != PAD).sum()), float(loss.detach())
        total_loss, total_pos = total_loss + value * n_pos, total_pos + n_pos
        report_loss, report_pos = report_loss + value * n_pos, report_pos + n_pos
        if progress is not None and (step % config.log_every == 0 or step == len(batches)):
            progress(TrainProgress(epoch, step, len(batches), report_loss / report_pos, total_pos))
            report_loss, report_pos = 0.0, 0
    return (total_loss / total_pos if total_pos else float("nan")), total_pos


def _sample_negatives(
    n_items: int, config: TrainConfig, generator: torch.Generator, device: torch.device
) -> Tensor | None:
    if config.loss == "full":
        return None
    return torch.randint(1, n_items + 1, (config.n_negatives,), generator=generator).to(device)


@torch.no_grad()
def evaluate_next_item(
    model: GRURecommender,
    histories: Sequence[Sequence[int]],
    targets: Sequence[int],
    k: int = 10,
    exclude_seen: bool = False,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Mean HR@k, NDCG@k and MRR@k of ``targets`` under a full ranking of all items.

    ``exclude_seen`` drops each user's history items from the ranking (never
    the target). The model's train/eval mode is restored afterwards.
    """
    if len(histories) != len(targets):
        raise ValueError("histories and targets must have the same length")
    _check_ids([targets], model.config.n_items)
    was_training = model.training
    model.eval()
    device = model.item_vectors().device
    ranks: list[np.ndarray] = []
    for start in range(0, len(histories), batch_size):
        chunk = histories[start : start + batch_size]
        seqs, lengths = pad_sequences(chunk, model.config.max_len)
        scores = model.scores(model.user_vectors(seqs.to(device), lengths)).float().cpu().numpy()
        wanted = np.asarray(targets[start : start + batch_size], dtype=np.int64)
        ranks.append(ranks_of_targets(scores, wanted, chunk if exclude_seen else None))
    model.train(was_training)
    all_ranks = np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.int64)
    metrics = {"hr": hit_rate_from_ranks, "ndcg": ndcg_from_ranks, "mrr": mrr_from_ranks}
    if not all_ranks.size:
        return dict.fromkeys(metrics, 0.0)
    return {name: float(fn(all_ranks, k).mean()) for name, fn in metrics.items()}


def grow_items(model: GRURecommender, new_n_items: int, seed: int = 0) -> GRURecommender:
    """A copy of ``model`` whose catalog has ``new_n_items``; old rows kept as they are.

    New items start small (near-neutral scores) until training places them.
    The input model is not changed.
    """
    old_n = model.config.n_items
    if new_n_items < old_n:
        raise ValueError(f"cannot shrink the catalog from {old_n} to {new_n_items} items")
    grown = GRURecommender(replace(model.config, n_items=new_n_items))
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    old_rows = state.pop("item_embedding.weight")
    generator = torch.Generator().manual_seed(seed)
    new_rows = 0.01 * torch.randn(new_n_items - old_n, old_rows.shape[1], generator=generator)
    state["item_embedding.weight"] = torch.cat([old_rows, new_rows.to(old_rows.dtype)])
    grown.load_state_dict(state)
    return grown.to(model.item_vectors().device).train(model.training)
