"""The item vector table (models/item_table.py)."""

from __future__ import annotations

import numpy as np
import pytest

from models.item_table import ItemTable, initial_item_vector


def test_initial_vector_is_deterministic() -> None:
    np.testing.assert_array_equal(
        initial_item_vector("sku-1", 16, seed=7), initial_item_vector("sku-1", 16, seed=7)
    )


def test_initial_vector_depends_on_seed_and_id() -> None:
    base = initial_item_vector("sku-1", 16, seed=7)
    assert not np.array_equal(base, initial_item_vector("sku-1", 16, seed=8))
    assert not np.array_equal(base, initial_item_vector("sku-2", 16, seed=7))


def test_initial_vector_shape_dtype_and_scale() -> None:
    vector = initial_item_vector("x", 1024, seed=1)
    assert vector.shape == (1024,)
    assert vector.dtype == np.float32
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=0.1)


def test_same_seed_tables_agree() -> None:
    a, b = ItemTable(dim=8, seed=3), ItemTable(dim=8, seed=3)
    for item in ("a", "b", "c"):
        np.testing.assert_array_equal(a.vector(item), b.vector(item))


def test_same_seed_tables_agree_whatever_the_insertion_order() -> None:
    a, b = ItemTable(dim=8, seed=3), ItemTable(dim=8, seed=3)
    for item in ("a", "b", "c"):
        a.index_of(item)
    for item in ("c", "a", "b"):
        b.index_of(item)
    for item in ("a", "b", "c"):
        np.testing.assert_array_equal(a.vector(item), b.vector(item))


def test_different_seed_tables_differ() -> None:
    a, b = ItemTable(dim=8, seed=3), ItemTable(dim=8, seed=4)
    assert not np.array_equal(a.vector("a"), b.vector("a"))


def test_rows_are_appended_in_order_and_indices_stable() -> None:
    table = ItemTable(dim=2, seed=0)
    assert [table.index_of(i) for i in ("a", "b", "a", "c")] == [0, 1, 0, 2]
    assert table.ids == ["a", "b", "c"]
    assert len(table) == 3


def test_rows_survive_growth_past_capacity() -> None:
    table = ItemTable(dim=4, seed=5, capacity=2)
    seen: dict[str, np.ndarray] = {}
    for n in range(100):
        row = table.index_of(f"i{n}")
        seen[f"i{n}"] = table.matrix[row].copy()
    assert len(table) == 100
    assert table.matrix.shape == (100, 4)
    for item, vector in seen.items():
        np.testing.assert_array_equal(table.vector(item), vector)
        np.testing.assert_array_equal(vector, initial_item_vector(item, 4, seed=5))


@pytest.mark.parametrize("capacity", [0, 1, 2, 3])
def test_vector_of_a_new_item_works_at_any_capacity(capacity: int) -> None:
    table = ItemTable(dim=4, seed=5, capacity=capacity)
    for n in range(10):
        np.testing.assert_array_equal(
            table.vector(f"i{n}"), initial_item_vector(f"i{n}", 4, seed=5)
        )
    assert len(table) == 10


def test_set_vectors_survive_growth() -> None:
    table = ItemTable(dim=3, seed=0, capacity=1)
    table.set_vector("a", np.array([1.0, 2.0, 3.0], np.float32))
    for n in range(50):
        table.index_of(f"x{n}")
    assert table.vector("a").tolist() == [1.0, 2.0, 3.0]


def test_matrix_holds_only_live_rows() -> None:
    table = ItemTable(dim=3, seed=0, capacity=16)
    assert table.matrix.shape == (0, 3)
    table.index_of("a")
    assert table.matrix.shape == (1, 3)


def test_lookup_without_adding() -> None:
    table = ItemTable(dim=2, seed=0)
    assert table.get_index("a") is None
    assert "a" not in table
    assert len(table) == 0
    table.index_of("a")
    assert table.get_index("a") == 0
    assert "a" in table


def test_set_vector_adds_or_overwrites() -> None:
    table = ItemTable(dim=2, seed=0)
    table.set_vector("new", np.array([1.0, 2.0], np.float32))
    table.index_of("other")
    table.set_vector("other", np.array([3.0, 4.0], np.float32))
    assert table.matrix.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_load_accepts_mapping_and_pairs_and_skips_wrong_shapes() -> None:
    table = ItemTable(dim=2, seed=0)
    table.load({"a": np.array([1.0, 1.0]), "bad": np.array([1.0, 2.0, 3.0])})
    table.load([("b", np.array([2.0, 2.0])), ("a", np.array([0.0, 5.0]))])
    assert table.ids == ["a", "b"]
    assert table.matrix.tolist() == [[0.0, 5.0], [2.0, 2.0]]


def test_a_full_table_recycles_the_least_recently_seen_row() -> None:
    table = ItemTable(dim=2, seed=0, max_items=3)
    recycled: list[tuple[int, str]] = []
    table.on_recycle = lambda row, old: recycled.append((row, old))
    for item in ("a", "b", "c"):
        table.begin_batch()
        table.index_of(item)
    table.begin_batch()
    table.index_of("a")  # seen again: "b" is now the least recently seen
    table.begin_batch()
    assert table.index_of("d") == 1
    assert recycled == [(1, "b")]
    assert "b" not in table and table.ids == ["a", "d", "c"] and len(table) == 3
    assert np.allclose(table.vector("d"), initial_item_vector("d", 2, 0))
    assert table.index_of("e") == 2  # "c" next
    assert table.recycled == 2


def test_rows_seen_in_the_current_batch_are_never_recycled() -> None:
    table = ItemTable(dim=2, seed=0, max_items=2)
    rows = [table.index_of(item) for item in ("a", "b", "c", "d")]  # one batch, 4 items
    assert rows == [0, 1, 2, 3]  # grew past the cap rather than lose a row in use
    table.begin_batch()
    table.index_of("d")
    assert table.index_of("e") in (0, 1, 2)  # a row of an earlier batch
    assert len(table) == 4


def test_a_reload_fills_a_capped_table_but_never_recycles_for_it() -> None:
    table = ItemTable(dim=2, seed=0, max_items=2)
    table.index_of("seen")
    table.load({"a": np.array([1.0, 1.0]), "b": np.array([2.0, 2.0]), "seen": np.ones(2)})
    assert table.ids == ["seen", "a"]  # "b" did not fit; "seen" was overwritten
    assert table.vector("seen").tolist() == [1.0, 1.0]
    table.begin_batch()
    table.index_of("seen")
    table.begin_batch()
    assert table.index_of("new") == 1  # the loaded, never seen row goes first


def test_a_load_past_the_capacity_grows_the_table() -> None:
    """A published model has more items than the initial capacity (the worker's swap)."""
    table = ItemTable(dim=4, seed=0, capacity=8)
    table.load({f"i{n}": np.full(4, n, np.float32) for n in range(20)})
    assert len(table) == 20 and table.matrix[19].tolist() == [19.0] * 4
