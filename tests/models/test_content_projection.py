"""Cold-start item vectors from catalog features (models/content_projection.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.content_projection import (
    ContentProjection,
    ItemFeatures,
    features_matrix,
    hash_catalog,
    hash_features,
)

N_CATEGORIES, PER_CATEGORY, DIM = 8, 40, 16


def catalogue(seed: int = 0) -> tuple[list[ItemFeatures], np.ndarray, np.ndarray, np.ndarray]:
    """Items whose embedding is their category's centroid plus noise.

    Tags and title words are partly category-specific and partly shared
    noise, so the regression has to find the signal among distractors.
    """
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((N_CATEGORIES, DIM))
    shared_words = [f"word{i}" for i in range(30)]
    items, embeddings, labels = [], [], []
    for c in range(N_CATEGORIES):
        for _ in range(PER_CATEGORY):
            tags = (f"style{c}-{rng.integers(3)}", f"promo{rng.integers(10)}")
            words = [f"kind{c}", *rng.choice(shared_words, size=3)]
            items.append(ItemFeatures(f"category-{c}", tags, " ".join(words).title()))
            embeddings.append(centroids[c] + 0.3 * rng.standard_normal(DIM))
            labels.append(c)
    return items, np.array(embeddings, np.float32), np.array(labels), centroids


def unit_rows(m: np.ndarray) -> np.ndarray:
    out: np.ndarray = m / np.linalg.norm(m, axis=-1, keepdims=True)
    return out


def test_held_out_items_land_nearest_their_category_centroid() -> None:
    items, y, labels, centroids = catalogue()
    x = hash_catalog(items)
    order = np.random.default_rng(1).permutation(len(items))
    cut = int(0.8 * len(items))
    train, test = order[:cut], order[cut:]
    model = ContentProjection.fit(x[train], y[train], l2=1.0)
    cosines = unit_rows(model.project_many(x[test])) @ unit_rows(centroids).T
    assert float((cosines.argmax(axis=1) == labels[test]).mean()) >= 0.9
    assert model.fitted_items == cut
    # Without their category, tags and title words alone still place them.
    uncategorised = hash_catalog([replace(items[i], category=None) for i in test])
    cosines = unit_rows(model.project_many(uncategorised)) @ unit_rows(centroids).T
    assert float((cosines.argmax(axis=1) == labels[test]).mean()) >= 0.9


def test_project_matches_project_many() -> None:
    items, y, _, _ = catalogue()
    x = hash_catalog(items)
    model = ContentProjection.fit(x, y)
    assert np.allclose(model.project(x[5]), model.project_many(x)[5], atol=1e-6)


def test_bytes_round_trip_exactly() -> None:
    items, y, _, _ = catalogue()
    model = ContentProjection.fit(hash_catalog(items), y)
    raw = model.to_bytes()
    again = ContentProjection.from_bytes(raw)
    assert raw[:4] == b"CPJ1"
    assert len(raw) == 16 + 4 * 512 * DIM
    assert again.to_bytes() == raw
    assert np.array_equal(again.weights, model.weights)
    assert (again.n_features, again.dim, again.fitted_items) == (512, DIM, len(items))


def test_bytes_are_little_endian_float32_after_the_header() -> None:
    model = ContentProjection(np.array([[1.5, -2.0]], np.float32), fitted_items=7)
    raw = model.to_bytes()
    assert raw[4:16] == (1).to_bytes(4, "little") + (2).to_bytes(4, "little") + b"\x07\0\0\0"
    assert np.frombuffer(raw[16:], "<f4").tolist() == [1.5, -2.0]


@pytest.mark.parametrize(
    "raw",
    [b"", b"CPJ1", b"XXXX" + bytes(12), ContentProjection(np.ones((2, 2)), 0).to_bytes()[:-1]],
)
def test_bad_bytes_are_rejected(raw: bytes) -> None:
    with pytest.raises(ValueError):
        ContentProjection.from_bytes(raw)


def test_item_without_features_projects_to_zero() -> None:
    items, y, _, _ = catalogue()
    model = ContentProjection.fit(hash_catalog(items), y)
    empty = hash_features(ItemFeatures.from_json({}))
    assert not empty.any()
    assert np.allclose(model.project(empty), 0.0, atol=1e-6)


def test_dual_and_primal_forms_agree() -> None:
    items, y, _, _ = catalogue()
    x = hash_catalog(items[:100], n_buckets=256)  # n < b: auto picks the dual form
    dual = ContentProjection.fit(x, y[:100], l2=0.5, dual=True)
    primal = ContentProjection.fit(x, y[:100], l2=0.5, dual=False)
    auto = ContentProjection.fit(x, y[:100], l2=0.5)
    assert np.allclose(dual.weights, primal.weights, atol=1e-5)
    assert np.array_equal(auto.weights, dual.weights)


def test_fit_rejects_mismatched_shapes_and_bad_l2() -> None:
    with pytest.raises(ValueError):
        ContentProjection.fit(np.ones((3, 4)), np.ones((2, 2)))
    with pytest.raises(ValueError):
        ContentProjection.fit(np.ones((3, 4)), np.ones((3, 2)), l2=0.0)
    with pytest.raises(ValueError):
        ContentProjection.fit(np.full((3, 4), np.nan), np.ones((3, 2)))


def test_hashing_is_stable_signed_and_normalised() -> None:
    features = ItemFeatures("shoes", ("red", "sale"), "Trail Runner, trail!")
    x = hash_features(features, n_buckets=1 << 16, seed=3)
    assert np.array_equal(x, hash_features(features, n_buckets=1 << 16, seed=3))
    assert not np.array_equal(x, hash_features(features, n_buckets=1 << 16, seed=4))
    assert x.dtype == np.float32
    assert np.isclose(np.linalg.norm(x), 1.0)
    # 5 distinct tokens, "trail" twice: with 65536 buckets no collision is expected.
    assert sorted(np.abs(x[x != 0]) * np.sqrt(8)) == pytest.approx([1, 1, 1, 1, 2])
    many = hash_features(ItemFeatures(tags=tuple(map(str, range(100)))), n_buckets=1 << 16)
    assert (many > 0).any() and (many < 0).any()


def test_tokens_are_lower_cased_and_prefixed() -> None:
    features = ItemFeatures.from_json({"category": " Shoes ", "tags": ["Red"], "title": "Big-Deal"})
    assert features.tokens() == ["cat=shoes", "tag=red", "w=big", "w=deal"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({}, ItemFeatures()),
        ({"category": None, "tags": None, "title": None}, ItemFeatures()),
        ({"category": 7, "tags": ("a", 3), "title": ""}, ItemFeatures("7", ("a", "3"))),
        ({"category": {"nested": 1}, "tags": {"x": 1}}, ItemFeatures()),
    ],
)
def test_from_json_tolerates_missing_and_odd_fields(entry, expected) -> None:
    assert ItemFeatures.from_json(entry) == expected


def test_features_matrix_appends_dense_features() -> None:
    hashed = np.ones((3, 4), np.float32)
    dense = np.zeros((3, 2), np.float32)
    assert features_matrix(hashed, dense).shape == (3, 6)
    assert np.array_equal(features_matrix(hashed), hashed)
    with pytest.raises(ValueError):
        features_matrix(hashed, np.zeros((2, 2), np.float32))


def test_dense_features_carry_signal_the_hash_lacks() -> None:
    items, y, labels, centroids = catalogue()
    blank = hash_catalog([ItemFeatures() for _ in items])
    text_like = np.eye(N_CATEGORIES, dtype=np.float32)[labels]  # stands in for a text embedding
    model = ContentProjection.fit(features_matrix(blank, text_like), y)
    projected = model.project_many(features_matrix(blank, text_like))
    cosines = unit_rows(projected) @ unit_rows(centroids).T
    assert float((cosines.argmax(axis=1) == labels).mean()) == 1.0
