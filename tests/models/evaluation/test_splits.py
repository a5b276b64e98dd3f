"""Leave-one-out splits: last item is test, second-to-last validation, the rest training."""

from __future__ import annotations

from models.evaluation.splits import leave_one_out


def test_last_is_test_second_to_last_is_validation():
    split = leave_one_out({"u1": ["a", "b", "c", "d", "e"], "u2": ["x", "y", "z"]})
    assert split.test == {"u1": "e", "u2": "z"}
    assert split.validation == {"u1": "d", "u2": "y"}
    assert split.train == {"u1": ["a", "b", "c"], "u2": ["x"]}
    assert split.validation_history("u1") == ["a", "b", "c"]
    assert split.test_history("u1") == ["a", "b", "c", "d"]


def test_users_with_fewer_than_three_items_train_only():
    split = leave_one_out({"one": ["a"], "two": ["a", "b"], "three": ["a", "b", "c"]})
    assert split.train["one"] == ["a"] and split.train["two"] == ["a", "b"]
    assert split.evaluated == ["three"]
    assert "one" not in split.test and "two" not in split.validation


def test_repeated_items_keep_positions():
    split = leave_one_out({"u": ["a", "a", "a"]})
    assert (split.train["u"], split.validation["u"], split.test["u"]) == (["a"], "a", "a")
