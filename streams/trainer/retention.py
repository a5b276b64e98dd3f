"""Old model versions go after each publish: their Redis keys and weights files.

Kept: the current version and the ``INTERESTS_MODEL_KEEP_VERSIONS`` published
before it, so a worker still loading a recent version never loses it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path

import redis

from state.model_registry import Collected, ModelRegistry, version_number

log = logging.getLogger(__name__)

# What the trainer writes: "gru-7.pt", and ".gru-7.pt.tmp" while writing it.
_WEIGHTS_FILE = re.compile(r"\.?(?P<version>.+)\.pt(\.tmp)?")


def collect_old_versions(
    registry: ModelRegistry, model_dir: Path, keep_previous: int
) -> Collected | None:
    """Remove old versions from Redis, then their weights files from ``model_dir``.

    Files go by the records' names and, for leftovers whose record is gone
    (a crash between the two steps), by their version number. Best effort:
    the new version is already live, so a failure is logged and the next
    publish collects what is left (None then).
    """
    try:
        return _collect(registry, model_dir, keep_previous)
    except (redis.RedisError, OSError) as exc:
        log.warning("old model versions stay until the next publish: %s", exc)
        return None


def _collect(registry: ModelRegistry, model_dir: Path, keep_previous: int) -> Collected:
    collected = registry.collect_old_versions(keep_previous)
    removed = sum(_unlink(model_dir, name) for name in collected.weights_files)
    removed += sum(_unlink(model_dir, path.name) for path in _older_files(model_dir, collected))
    if collected.versions or removed:
        log.info(
            "removed %d old model versions and %d weights files (kept from gru-%d)",
            len(collected.versions),
            removed,
            collected.below,
        )
    return collected


def _older_files(model_dir: Path, collected: Collected) -> list[Path]:
    if not model_dir.is_dir():
        return []
    out = []
    for path in model_dir.iterdir():
        match = _WEIGHTS_FILE.fullmatch(path.name)
        number = version_number(match.group("version")) if match else None
        if number is not None and number < collected.below:
            out.append(path)
    return out


def _unlink(model_dir: Path, name: str) -> bool:
    """Only a plain file name inside ``model_dir``: names come from Redis."""
    if Path(name).name != name or name in ("", ".", ".."):
        log.warning("not deleting weights file %r: not a plain file name", name)
        return False
    with contextlib.suppress(FileNotFoundError):
        (model_dir / name).unlink()
        return True
    return False
