"""After each publish the trainer removes old versions: Redis keys and weights files."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.long_term.refresh import refresh
from streams.devtools.embedded import EmbeddedServices
from streams.trainer.service import Trainer, TrainerError, refresh_config
from tests.support.harness import isolated_settings
from tests.support.mixed_stream import category_histories

pytestmark = pytest.mark.slow


def test_publish_keeps_current_and_previous_versions_only(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    model_dir = tmp_path / "models"
    settings = isolated_settings(
        services,
        vector_size=8,
        trainer_epochs=1,
        trainer_max_len=12,
        model_dir=str(model_dir),
        model_keep_versions=1,
    )
    trainer = Trainer(settings)
    try:
        histories = category_histories()
        result = refresh(histories, None, refresh_config(settings))
        published = [trainer._publish(result, histories) for _ in range(2)]
        model_dir.joinpath(".gru-1.pt.tmp").write_bytes(b"a write that died")
        model_dir.joinpath("notes.txt").write_text("not a version")
        published += [trainer._publish(result, histories) for _ in range(2)]

        assert published == ["gru-1", "gru-2", "gru-3", "gru-4"]
        assert sorted(p.name for p in model_dir.iterdir()) == ["gru-3.pt", "gru-4.pt", "notes.txt"]
        registry = trainer.registry
        for gone in ("gru-1", "gru-2"):
            assert registry.record(gone) is None
            assert not registry.client.exists(registry.keys.items(gone))
            assert not registry.client.exists(registry.keys.gru_step(gone))
        assert registry.record("gru-3") is not None
        # The current version still loads, checksum and all.
        assert trainer.load_current() is not None
    finally:
        trainer.close()


def test_keeping_no_previous_version_is_refused(services: EmbeddedServices) -> None:
    settings = isolated_settings(services, model_keep_versions=0)
    with pytest.raises(TrainerError, match="KEEP_VERSIONS"):
        Trainer(settings)
