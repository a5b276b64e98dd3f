"""GRU recipe sweep and a timed trainer refresh, for a lent GPU (runs on the CPU too, slowly).

Needs only torch, numpy and ``models`` (no pydantic, Redis or Kafka), so it
runs on a bare accelerator machine. Two parts, results as JSON lines in
``--out`` (one line per finished job, so a run cut short keeps what it did):

* ``refresh``: the trainer's refresh (:func:`models.long_term.refresh.refresh`)
  on amazon-toys with the trainer's default settings, timed alone, on the
  device with bf16 autocast (what ``interests trainer --once`` trains).
* ``sweep``: leave-one-out on each data file (last item test, the one before
  validation, the rest training; full ranking, ``--exclude-seen``), the GRU
  alone, early-stopped on validation NDCG@10, one variant of the recipe at a
  time, ``--seeds`` seeds each. Jobs run in ``--jobs`` processes sharing the
  device; ranking is done on the device too.

    python benchmarks/gpu_sweep.py --data-dir ../shared/data --out sweep.jsonl
    python benchmarks/gpu_sweep.py --tiny --jobs 2 --out /tmp/t.jsonl   # CPU smoke test
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
try:
    import river  # noqa: F401
except ImportError:  # a bare GPU machine: load models/ but not its __init__ (needs river)
    import types

    _package = types.ModuleType("models")
    _package.__path__ = [str(ROOT / "models")]
    sys.modules["models"] = _package

from models.long_term import GRURecommender, TrainConfig, pad_sequences  # noqa: E402
from models.long_term.fit import LongTermConfig, fit  # noqa: E402
from models.long_term.refresh import RefreshConfig, refresh  # noqa: E402
from models.ranking_metrics import hit_rate_from_ranks, ndcg_from_ranks  # noqa: E402

FILES = ("ml-100k.inter", "amazon-toys.txt", "amazon-video-games.txt")

# The trainer's defaults (streams/settings.py), written out so that this runs
# without pydantic; checked against Settings where it can be imported.
TRAINER = {
    "dim": 64, "max_len": 50, "dropout": 0.3, "patience": 4, "seed": 7,
    "epochs": 14, "batch_size": 256, "lr": 0.01, "loss": "full", "history_length": 200,
    "schedule": "onecycle", "warmup": 0.1, "label_smoothing": 0.1,
}  # fmt: skip


def check_trainer_defaults() -> None:
    """Fail when ``TRAINER`` no longer matches ``streams.settings`` (where it can be imported)."""
    try:
        from streams.settings import Settings
        from streams.trainer.service import refresh_config
    except ImportError:  # the bare GPU machine: nothing to check against
        return
    settings = Settings()
    config = refresh_config(settings)
    actual = {
        "dim": config.dim, "max_len": config.max_len, "dropout": config.dropout,
        "patience": config.patience, "seed": config.seed, "epochs": config.train.epochs,
        "batch_size": config.train.batch_size, "lr": config.train.lr, "loss": config.train.loss,
        "history_length": settings.history_length, "schedule": config.train.schedule,
        "warmup": config.train.warmup, "label_smoothing": config.train.label_smoothing,
    }  # fmt: skip
    if actual != TRAINER:
        raise SystemExit(f"TRAINER differs from the trainer's defaults: {actual}")


BASE: dict[str, Any] = {
    "dim": 64, "max_len": 50, "dropout": 0.3, "lr": 3e-3, "batch_size": 128,
    "loss": "full", "n_negatives": 256, "weight_decay": 0.0, "epochs": 40, "patience": 3,
    "schedule": "constant", "warmup": 0.1, "label_smoothing": 0.0,
    "hidden": None, "layers": 1, "embedding_dropout": None, "attention": 0, "final_norm": False,
}  # fmt: skip

# One-cycle runs use their whole (short) budget: early stopping still keeps the best epoch.
_OC = {"schedule": "onecycle", "patience": 100}

# The trainer's default recipe (TRAINER), as a sweep variant.
_DEFAULT = {**_OC, "epochs": 14, "batch_size": 256, "lr": 1e-2, "label_smoothing": 0.1}

# Priority order: a run cut short has the first ones on every file and seed.
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "bs256_lr6e-3": {"batch_size": 256, "lr": 6e-3},
    "oc10_bs256_lr1e-2": {**_OC, "epochs": 10, "batch_size": 256, "lr": 1e-2},
    "oc10_bs256_lr6e-3": {**_OC, "epochs": 10, "batch_size": 256, "lr": 6e-3},
    "oc16_bs256_lr6e-3": {**_OC, "epochs": 16, "batch_size": 256, "lr": 6e-3},
    "oc10_bs128_lr6e-3": {**_OC, "epochs": 10, "batch_size": 128, "lr": 6e-3},
    "oc10_bs256_lr1e-2_ls0.1": {**_OC, "epochs": 10, "batch_size": 256, "lr": 1e-2,
                                "label_smoothing": 0.1},
    "oc10_bs256_lr1e-2_dim128_drop0.5": {**_OC, "epochs": 10, "batch_size": 256, "lr": 1e-2,
                                         "dim": 128, "dropout": 0.5},
    "ls0.1": {"label_smoothing": 0.1},
    "dim128_drop0.5": {"dim": 128, "dropout": 0.5},
    "oc10_bs256_lr1e-2_ls0.1_drop0.5": {**_OC, "epochs": 10, "batch_size": 256, "lr": 1e-2,
                                        "label_smoothing": 0.1, "dropout": 0.5},
    "oc10_bs256_lr2e-2_ls0.1": {**_OC, "epochs": 10, "batch_size": 256, "lr": 2e-2,
                                "label_smoothing": 0.1},
    "oc14_bs256_lr1e-2_ls0.1": {**_OC, "epochs": 14, "batch_size": 256, "lr": 1e-2,
                                "label_smoothing": 0.1},
    "oc10_bs256_lr1e-2_dim128_drop0.5_ls0.1": {**_OC, "epochs": 10, "batch_size": 256,
                                               "lr": 1e-2, "dim": 128, "dropout": 0.5,
                                               "label_smoothing": 0.1},
    "wd1e-5": {"weight_decay": 1e-5},
    # Issue 14, fourth call: on top of the trainer's default (oc14_bs256_lr1e-2_ls0.1, written
    # `oc14_` + what differs), in priority order. The control above runs again beside them.
    "oc14_ls0.2": {**_DEFAULT, "label_smoothing": 0.2},
    "oc14_attn20": {**_DEFAULT, "attention": 20},
    "oc14_dim128_drop0.5": {**_DEFAULT, "dim": 128, "dropout": 0.5},
    "oc14_hid128": {**_DEFAULT, "hidden": 128},
    "oc14_edrop0.5_drop0.2": {**_DEFAULT, "embedding_dropout": 0.5, "dropout": 0.2},
    "oc20": {**_DEFAULT, "epochs": 20},
    "oc14_norm": {**_DEFAULT, "final_norm": True},
    "oc14_attn20_norm": {**_DEFAULT, "attention": 20, "final_norm": True},
    "oc14_layers2": {**_DEFAULT, "layers": 2},
    "oc14_len100": {**_DEFAULT, "max_len": 100},
    "oc14_ls0.3": {**_DEFAULT, "label_smoothing": 0.3},
}  # fmt: skip
# Recipes the timed refresh runs (--refresh-variants; "trainer": the trainer's defaults).
REFRESH_VARIANTS = ("trainer", "oc10_bs256_lr1e-2", "oc10_bs256_lr6e-3")


def read_sequences(path: Path) -> dict[str, list[str]]:
    """Each user's items in time order (ml-100k sorted by timestamp, stable)."""
    users: dict[str, list[str]] = {}
    if path.suffix == ".inter":
        with path.open() as f:
            f.readline()
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        rows.sort(key=lambda r: float(r[3]))
        for r in rows:
            users.setdefault(r[0], []).append(r[1])
        return users
    with path.open() as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and "games" in path.name:  # 'user item' pairs
                users.setdefault(parts[0], []).append(parts[1])
            elif len(parts) >= 2:
                users.setdefault(parts[0], []).extend(parts[1:])
    return users


class _Rows:
    """Item id ↔ row, in first-seen order (what :class:`ItemRows` asks for)."""

    def __init__(self, sequences: dict[str, list[str]]) -> None:
        self._rows: dict[str, int] = {}
        for items in sequences.values():
            for item in items:
                self._rows.setdefault(item, len(self._rows))
        self._ids = list(self._rows)

    @property
    def ids(self) -> Sequence[str]:
        return self._ids

    def get_index(self, item_id: str) -> int | None:
        return self._rows.get(item_id)


@torch.no_grad()
def gpu_ranks(
    model: GRURecommender, histories: list[list[int]], targets: list[int], exclude_seen: bool
) -> np.ndarray:
    """0-based ranks as in :func:`models.ranking_metrics.ranks_of_targets`, on the device."""
    model.eval()
    device = model.item_vectors().device
    items = model.item_vectors().float()
    out = []
    for start in range(0, len(histories), 2048):
        chunk = histories[start : start + 2048]
        seqs, lengths = pad_sequences(chunk, model.config.max_len)
        users = model.user_vectors(seqs.to(device), lengths).float()
        scores = users @ items.T
        scores[:, 0] = float("-inf")
        t = torch.tensor(targets[start : start + 2048], device=device)
        rows = torch.arange(len(chunk), device=device)
        target_scores = scores[rows, t].clone()
        if exclude_seen:
            full, _ = pad_sequences(chunk, 10**9)
            full = full.to(device)
            scores.scatter_(1, full, float("-inf"))  # pads hit column 0, already -inf
            scores[rows, t] = target_scores
        higher = (scores > target_scores[:, None]).sum(1)
        tied = (
            (scores == target_scores[:, None])
            & (torch.arange(scores.shape[1], device=device)[None] < t[:, None])
        ).sum(1)
        # Ids are rows + 1: column 0 (padding) never ties a real score.
        out.append((higher + tied).cpu().numpy())
    return np.concatenate(out).astype(np.int64)


def loo_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one variant on one file's training prefixes; test NDCG/HR@10 (exclude seen)."""
    torch.set_num_threads(job.get("threads", 1))
    cfg = {**BASE, **job["params"]}
    sequences = read_sequences(Path(job["path"]))
    if job.get("tiny"):
        sequences = dict(list(sequences.items())[: job["tiny"]])
        cfg["epochs"] = min(cfg["epochs"], 2)
    train, val, test = {}, {}, {}
    for user, items in sequences.items():
        if len(items) < 3:
            train[user] = list(items)
            continue
        train[user], val[user], test[user] = items[:-2], items[-2], items[-1]
    rows = _Rows(sequences)
    enc = lambda items: [rows.get_index(i) + 1 for i in items]  # noqa: E731
    evaluated = list(test)
    val_h = [enc(train[u]) for u in evaluated]
    val_t = [rows.get_index(val[u]) + 1 for u in evaluated]
    test_h = [enc([*train[u], val[u]]) for u in evaluated]
    test_t = [rows.get_index(test[u]) + 1 for u in evaluated]
    seed = job["seed"]
    lt = LongTermConfig(
        dim=cfg["dim"], hidden=cfg["hidden"], layers=cfg["layers"], dropout=cfg["dropout"],
        max_len=cfg["max_len"], seed=seed, embedding_dropout=cfg["embedding_dropout"],
        attention=cfg["attention"], final_norm=cfg["final_norm"],
    )  # fmt: skip
    tc = TrainConfig(
        epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"],
        weight_decay=cfg["weight_decay"], loss=cfg["loss"], n_negatives=cfg["n_negatives"],
        seed=seed, device=job["device"], amp=True, schedule=cfg["schedule"],
        warmup=cfg["warmup"], label_smoothing=cfg["label_smoothing"],
    )  # fmt: skip
    curve: list[float] = []

    def validate(model: GRURecommender) -> float:
        score = float(ndcg_from_ranks(gpu_ranks(model, val_h, val_t, True), 10).mean())
        curve.append(round(score, 5))
        model.train()
        return score

    started = time.perf_counter()
    result = fit(train, rows, lt, tc, validate=validate, patience=cfg["patience"], vector_users=[])
    train_s = time.perf_counter() - started
    ranks = gpu_ranks(result.model, test_h, test_t, True)
    return {
        "part": "sweep", "file": Path(job["path"]).name, "variant": job["variant"], "seed": seed,
        "params": cfg, "users": len(sequences), "evaluated": len(evaluated), "items": len(rows.ids),
        "ndcg_at_10": float(ndcg_from_ranks(ranks, 10).mean()),
        "hr_at_10": float(hit_rate_from_ranks(ranks, 10).mean()),
        "val_ndcg_best": max(curve) if curve else None, "val_curve": curve,
        "epochs_run": result.epochs_run,
        "best_epoch": None if result.best_epoch is None else result.best_epoch + 1,
        "train_seconds": round(train_s, 1), "device": job["device"],
        "bytes_per_item": 4 * cfg["dim"],
        # Long-term vector + the stepper's state (GRU layers + attention window), float32.
        "bytes_per_user": 4 * cfg["dim"] + 4 * result.stepper.rows * result.stepper.hidden,
    }  # fmt: skip


def trainer_refresh(
    path: Path, device: str, amp: bool, tiny: int = 0, variant: str | None = None
) -> dict[str, Any]:
    """One cold refresh of the trainer (its defaults, or with a sweep variant's recipe), timed."""
    t = {**TRAINER, **_refresh_overrides(variant)}
    sequences = {u: items[-t["history_length"] :] for u, items in read_sequences(path).items()}
    if tiny:
        sequences = dict(list(sequences.items())[:tiny])
    config = RefreshConfig(
        dim=t["dim"], max_len=t["max_len"], dropout=t["dropout"], patience=t["patience"],
        seed=t["seed"],
        train=TrainConfig(
            epochs=2 if tiny else t["epochs"], batch_size=t["batch_size"], lr=t["lr"],
            loss=t["loss"], seed=t["seed"], device=device, amp=amp, schedule=t["schedule"],
            warmup=t["warmup"], label_smoothing=t["label_smoothing"],
        ),
    )  # fmt: skip
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = refresh(sequences, None, config)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    return {
        "part": "refresh", "variant": variant or "trainer", "file": path.name, "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "amp_bf16": amp and device == "cuda", "trainer_settings": t,
        "users": len(sequences), "items": len(result.vocab),
        "epochs": result.report.epochs,
        "best_epoch": None if result.best_epoch is None else result.best_epoch + 1,
        "positions_trained": result.report.positions_trained,
        "positions_per_s": round(result.report.positions_per_s),
        "train_seconds": round(result.report.seconds, 1), "refresh_seconds": round(wall, 1),
        "gate_candidate_ndcg_at_10": round(result.candidate_ndcg, 4),
        "gate_baseline": result.baseline,
        "gate_baseline_ndcg_at_10": round(result.baseline_ndcg, 4),
        "held_out_users": result.held_out_users, "accepted": result.accepted,
    }  # fmt: skip


def _refresh_overrides(variant: str | None) -> dict[str, Any]:
    """A sweep variant's recipe in the trainer's terms (its patience stays the trainer's)."""
    if variant is None or variant == "trainer":
        return {}
    names = ("dim", "max_len", "dropout", "epochs", "batch_size", "lr", "loss",
             "schedule", "warmup", "label_smoothing")  # fmt: skip
    return {k: v for k, v in VARIANTS[variant].items() if k in names}


def _emit(out: Path, record: dict[str, Any]) -> None:
    with out.open("a") as f:
        f.write(json.dumps(record) + "\n")
    brief = {k: record.get(k) for k in ("part", "file", "variant", "seed", "ndcg_at_10",
                                         "epochs_run", "train_seconds", "refresh_seconds",
                                         "gate_candidate_ndcg_at_10", "error")}  # fmt: skip
    print(json.dumps(brief), flush=True)


def _safe_job(job: dict[str, Any]) -> dict[str, Any]:
    try:
        return loo_job(job)
    except Exception as exc:  # one bad job must not lose the others
        return {"part": "sweep", "variant": job["variant"], "file": Path(job["path"]).name,
                "seed": job["seed"], "error": repr(exc)}  # fmt: skip


def summarize(lines: Path) -> dict[str, Any]:
    """Mean ± std (over seeds) of test NDCG@10 per variant and file, from a run's JSON lines."""
    rows = [json.loads(line) for line in lines.read_text().splitlines() if line.strip()]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("part") == "sweep" and "error" not in r:
            groups.setdefault((r["variant"], r["file"]), []).append(r)
    table: dict[str, dict[str, Any]] = {}
    for (variant, file), runs in groups.items():
        ndcg = np.array([r["ndcg_at_10"] for r in runs])
        table.setdefault(variant, {"params": runs[0]["params"]})[file] = {
            "ndcg_at_10_mean": round(float(ndcg.mean()), 4),
            "ndcg_at_10_std": round(float(ndcg.std(ddof=1)) if len(runs) > 1 else 0.0, 4),
            "hr_at_10_mean": round(float(np.mean([r["hr_at_10"] for r in runs])), 4),
            "seeds": sorted(r["seed"] for r in runs),
            "epochs_run_mean": round(float(np.mean([r["epochs_run"] for r in runs])), 1),
            "train_seconds_mean": round(float(np.mean([r["train_seconds"] for r in runs])), 1),
            "bytes_per_item": runs[0]["bytes_per_item"],
            "bytes_per_user": runs[0]["bytes_per_user"],
        }
    refresh_runs = [r for r in rows if r.get("part") == "refresh"]
    return {"variants": table, "refresh": refresh_runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summarize", type=Path, help="print the summary of a run's JSON lines")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--files", nargs="*", default=list(FILES))
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--budget-s", type=float, default=400.0, help="no job starts after this")
    parser.add_argument("--skip-refresh", action="store_true")
    parser.add_argument(
        "--refresh-variants", nargs="*", default=list(REFRESH_VARIANTS),
        help="sweep variants whose recipe the timed refresh also runs",
    )  # fmt: skip
    parser.add_argument("--tiny", type=int, default=0, help="users per file (smoke test)")
    args = parser.parse_args()
    if args.summarize:
        print(json.dumps(summarize(args.summarize), indent=2))
        return 0
    if args.out is None:
        parser.error("--out is required")
    check_trainer_defaults()
    started = time.perf_counter()
    print(f"torch {torch.__version__} device {args.device} cpus {os.cpu_count()}", flush=True)
    if args.device == "cuda":
        print(torch.cuda.get_device_name(), flush=True)
    if not args.skip_refresh:
        path = args.data_dir / "amazon-toys.txt"
        for variant in args.refresh_variants:
            try:
                record = trainer_refresh(path, args.device, True, args.tiny, variant)
            except Exception as exc:
                record = {"part": "refresh", "variant": variant, "error": repr(exc)}
            _emit(args.out, record)
    jobs = [
        {"path": str(args.data_dir / f), "variant": v, "params": VARIANTS[v], "seed": s,
         "device": args.device, "tiny": args.tiny}
        for v in args.variants for f in args.files for s in args.seeds
    ]  # fmt: skip
    ctx = mp.get_context("spawn")
    done = 0
    with ctx.Pool(args.jobs, maxtasksperchild=4) as pool:
        pending = [pool.apply_async(_safe_job, (job,)) for job in jobs]
        while pending and time.perf_counter() - started < args.budget_s:
            ready = [h for h in pending if h.ready()]
            for handle in ready:
                _emit(args.out, handle.get())
                done += 1
            pending = [h for h in pending if h not in ready]
            time.sleep(0.2)
        pool.terminate()
    print(f"done {done}/{len(jobs)} jobs in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
