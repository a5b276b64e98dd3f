"""Score-level fusion (models.blend): calibration, the fused ranking, the learned weight."""

from __future__ import annotations

import numpy as np

from models.blend import ScoreFusion, calibrate, fuse


def test_calibration_puts_both_parts_on_one_scale():
    small, large = np.array([0.01, 0.02, 0.03]), np.array([100.0, 200.0, 300.0])
    np.testing.assert_allclose(calibrate(small), calibrate(large))
    assert calibrate(np.array([2.0, 2.0])).tolist() == [0.0, 0.0]  # says nothing
    assert calibrate(np.array([-np.inf, -np.inf])).tolist() == [0.0, 0.0]


def test_items_one_part_cannot_score_are_neutral_in_that_part():
    long = np.array([1.0, 0.0, -np.inf])  # row 2 is newer than the GRU
    short = np.array([0.0, 0.0, 9.0])
    fused = fuse(long, short, 0.5)
    assert fused is not None and np.isfinite(fused).all()
    assert int(np.argmax(fused)) == 2  # short-term can still recommend a new item


def test_a_missing_part_leaves_the_other_alone():
    short = np.array([3.0, 1.0, 2.0])
    assert fuse(None, None, 0.5) is None
    np.testing.assert_array_equal(fuse(None, short, 0.9), calibrate(short))
    np.testing.assert_array_equal(fuse(short, None, 0.1), calibrate(short))


def test_the_weight_moves_towards_the_part_that_ranks_choices_higher():
    rng = np.random.default_rng(0)
    fusion, offset = ScoreFusion(prior=0.5), 0.0
    for key in range(200):
        long, short = rng.normal(size=50), rng.normal(size=50)
        chosen = int(np.argmax(short))  # short-term always knew
        offset = fusion.observe(offset, long, short, chosen, key).user_offset
    assert fusion.weight(offset) < 0.2
    assert fusion.weight(0.0, surface="related") == 0.5  # another surface has its own prior


def test_observe_is_seeded_by_key():
    long, short = np.arange(10.0), np.arange(10.0)[::-1].copy()
    a = ScoreFusion().observe(0.0, long, short, chosen=3, key=11)
    b = ScoreFusion().observe(0.0, long, short, chosen=3, key=11)
    assert a == b
    # A choice outside the scored rows (an item new since scoring) teaches nothing.
    assert ScoreFusion().observe(0.25, long, short, chosen=10, key=1).user_offset == 0.25
