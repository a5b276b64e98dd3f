"""The long-term GRU: masking, learning, seeding, weights and catalog growth (CPU, tiny)."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from models.long_term import (
    GRUConfig,
    GRURecommender,
    TrainConfig,
    TrainProgress,
    WeightsChecksumError,
    batch_loss,
    evaluate_next_item,
    grow_items,
    make_training_examples,
    model_from_bytes,
    model_to_bytes,
    pad_sequences,
    sha256_hex,
    train,
    training,
)

N_ITEMS = 40
TINY = GRUConfig(n_items=N_ITEMS, dim=16, max_len=20, dropout=0.1)
FAST = TrainConfig(epochs=8, batch_size=32, lr=1e-2, device="cpu", log_every=5)


def cyclic_sequences(
    n_users: int, length: int, seed: int, shuffled: bool = False
) -> list[list[int]]:
    """Item i is always followed by item i+1 (mod n); ``shuffled`` destroys the order."""
    rng = random.Random(seed)
    out: list[list[int]] = []
    for _ in range(n_users):
        start = rng.randrange(N_ITEMS)
        seq = [(start + j) % N_ITEMS + 1 for j in range(length)]
        if shuffled:
            rng.shuffle(seq)
        out.append(seq)
    return out


def held_out() -> tuple[list[list[int]], list[int]]:
    test = cyclic_sequences(100, 12, seed=99)
    return [s[:-1] for s in test], [s[-1] for s in test]


@pytest.fixture(scope="module")
def trained() -> GRURecommender:
    model = GRURecommender(TINY)
    train(model, cyclic_sequences(300, 12, seed=0), FAST)
    return model


# --- padding and masking ---------------------------------------------------------


def test_extra_padding_does_not_change_user_vectors():
    model = GRURecommender(TINY).eval()
    seqs, lengths = pad_sequences([[3, 4, 5], [7]], max_len=20)
    wider = F.pad(seqs, (0, 4))  # four more padding columns
    with torch.no_grad():
        narrow_vecs = model.user_vectors(seqs, lengths)
        wide_vecs = model.user_vectors(wider, lengths)
        alone = model.user_vectors(*pad_sequences([[7]], max_len=20))
        outputs = model(wider, lengths)
    torch.testing.assert_close(narrow_vecs, wide_vecs, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(narrow_vecs[1:], alone, rtol=1e-6, atol=1e-6)
    assert bool((outputs[0, 3:] == 0).all()) and bool((outputs[1, 1:] == 0).all())


def test_empty_history_gives_a_zero_vector_and_padding_never_scores():
    model = GRURecommender(TINY).eval()
    seqs, lengths = pad_sequences([[], [2]], max_len=20)
    with torch.no_grad():
        vecs = model.user_vectors(seqs, lengths)
        scores = model.scores(vecs)
    assert bool((vecs[0] == 0).all())
    assert scores.shape == (2, N_ITEMS + 1)
    assert torch.isneginf(scores[:, 0]).all()
    assert model.item_vectors().shape == (N_ITEMS + 1, 16)


def test_training_examples_shift_truncate_and_pad():
    inputs, targets = make_training_examples([[1, 2, 3, 4, 5], [6, 7], [8]], max_len=3)
    assert inputs.tolist() == [[2, 3, 4], [6, 0, 0]]
    assert targets.tolist() == [[3, 4, 5], [7, 0, 0]]


def test_loss_ignores_padded_positions():
    model = GRURecommender(TINY).eval()
    inputs, targets = (torch.from_numpy(a) for a in make_training_examples([[1, 2, 3], [4, 5]], 20))
    with torch.no_grad():
        loss = batch_loss(model, inputs, targets)
        padded = batch_loss(model, F.pad(inputs, (0, 5)), F.pad(targets, (0, 5)))
        # By hand: softmax over real items at the three real positions only.
        out = model(inputs, (inputs != 0).sum(dim=1))
        mask = inputs != 0
        logits = out[mask] @ model.item_vectors()[1:].T
        manual = F.cross_entropy(logits, targets[mask] - 1)
    torch.testing.assert_close(loss, padded)
    torch.testing.assert_close(loss, manual)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("keep_probabilities", [1 << 25, 0])  # kept from forward; remade
@pytest.mark.parametrize("logits_per_chunk", [1 << 22, 7 * 3])  # one chunk; chunks of 3 rows
def test_chunked_full_softmax_matches_cross_entropy(
    monkeypatch, logits_per_chunk, keep_probabilities, smoothing
):
    monkeypatch.setattr(training, "_LOGITS_PER_CHUNK_CPU", logits_per_chunk)
    monkeypatch.setattr(training, "_KEEP_PROBABILITIES", keep_probabilities)
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(10, 4, generator=gen, requires_grad=True)
    items = torch.randn(7, 4, generator=gen, requires_grad=True)
    targets = torch.randint(0, 7, (10,), generator=gen)
    ours = training.full_softmax_loss(hidden, items, targets, smoothing)
    our_grads = torch.autograd.grad(ours, (hidden, items))
    reference = F.cross_entropy(hidden @ items.T, targets, label_smoothing=smoothing)
    reference_grads = torch.autograd.grad(reference, (hidden, items))
    torch.testing.assert_close(ours, reference)
    for got, want in zip(our_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want)


def test_ids_outside_the_catalog_are_refused():
    model = GRURecommender(TINY)
    for bad in ([[1, 0, 2]], [[1, N_ITEMS + 1]]):
        with pytest.raises(ValueError, match="padding"):
            train(model, bad, FAST)
    with pytest.raises(ValueError, match="padding"):
        evaluate_next_item(model, [[1, 2]], [0])


def test_nothing_to_learn_from_is_not_an_error():
    report = train(GRURecommender(TINY), [[1], []], FAST)
    assert report.positions_trained == 0
    assert evaluate_next_item(GRURecommender(TINY), [], []) == {"hr": 0.0, "ndcg": 0.0, "mrr": 0.0}


# --- learning ----------------------------------------------------------------------


def test_training_learns_the_cyclic_pattern(trained: GRURecommender):
    histories, targets = held_out()
    untrained = evaluate_next_item(GRURecommender(TINY), histories, targets, k=10)
    learned = evaluate_next_item(trained, histories, targets, k=10)
    assert learned["hr"] >= 0.95
    assert learned["ndcg"] > untrained["ndcg"] + 0.5
    assert 0.0 <= learned["mrr"] <= learned["hr"]


def test_shuffled_training_data_is_clearly_worse(trained: GRURecommender):
    broken = GRURecommender(TINY)
    train(broken, cyclic_sequences(300, 12, seed=0, shuffled=True), FAST)
    histories, targets = held_out()
    good = evaluate_next_item(trained, histories, targets)["ndcg"]
    bad = evaluate_next_item(broken, histories, targets)["ndcg"]
    assert bad < good - 0.3, (good, bad)


def test_sampled_softmax_learns():
    model = GRURecommender(TINY)
    config = TrainConfig(
        epochs=8, batch_size=32, lr=1e-2, device="cpu", loss="sampled", n_negatives=8
    )
    report = train(model, cyclic_sequences(300, 12, seed=0), config)
    histories, targets = held_out()
    assert evaluate_next_item(model, histories, targets)["hr"] >= 0.9
    assert report.positions_trained == 8 * 300 * 11


def test_one_cycle_schedule_with_label_smoothing_learns_and_ends_at_zero_rate():
    model = GRURecommender(TINY)
    config = TrainConfig(
        epochs=4, batch_size=32, lr=3e-2, device="cpu", schedule="onecycle",
        label_smoothing=0.1,
    )  # fmt: skip
    train(model, cyclic_sequences(300, 12, seed=0), config)
    histories, targets = held_out()
    assert evaluate_next_item(model, histories, targets)["hr"] >= 0.95
    factor = training.lr_factor(config, total_steps=40)
    assert factor(0) == pytest.approx(0.25) and factor(3) == 1.0  # 10% warm-up
    assert factor(39) == pytest.approx(0.0, abs=0.01)


def test_report_progress_and_warm_start():
    model = GRURecommender(TINY)
    seen: list[TrainProgress] = []
    data = cyclic_sequences(64, 12, seed=3)
    config = TrainConfig(epochs=2, batch_size=16, lr=1e-2, log_every=3, device="cpu")
    first = train(model, data, config, seen.append)
    assert first.device == "cpu" and first.epochs == 2 and first.positions_per_s > 0
    assert [p.step for p in seen] == [3, 4, 3, 4]  # every 3 steps and at each epoch's end
    assert seen[-1].positions == 64 * 11
    second = train(model, data, TrainConfig(epochs=2, batch_size=16, lr=1e-2, device="cpu"))
    assert second.final_loss < first.final_loss  # continued from where it was


def test_evaluation_excludes_seen_and_restores_the_mode(trained: GRURecommender):
    # After ..., 2, 3, 4 the cyclic model ranks 5 first; 5 is planted in the history.
    history = [5, 1, 2, 3, 4]
    with torch.no_grad():
        scores = trained.scores(trained.user_vectors(*pad_sequences([history], TINY.max_len)))[0]
    best, second = scores[1:].argsort(descending=True)[:2].add(1).tolist()  # ids, not rows
    assert best == 5, "the planted seen item must be the model's first choice"
    trained.train()
    plain = evaluate_next_item(trained, [history], [second], k=N_ITEMS)
    excluding = evaluate_next_item(trained, [history], [second], k=N_ITEMS, exclude_seen=True)
    assert trained.training
    trained.eval()
    assert plain["mrr"] == pytest.approx(1 / 2)  # behind the planted item
    assert excluding["mrr"] == pytest.approx(1.0)  # the planted item is gone
    # A seen item is never excluded when it is the target itself.
    again = evaluate_next_item(trained, [history], [best], k=N_ITEMS, exclude_seen=True)
    assert again["mrr"] == pytest.approx(1.0)


def test_device_is_cuda_when_torch_sees_one_else_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training.resolve_device(None) == torch.device("cuda")
    assert training.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training.resolve_device(None) == torch.device("cpu")


# --- reproducibility -----------------------------------------------------------------


def test_same_seed_gives_identical_weights():
    data = cyclic_sequences(64, 12, seed=5)
    config = TrainConfig(epochs=2, batch_size=16, lr=1e-2, seed=7, device="cpu")
    states = []
    for _ in range(2):
        model = GRURecommender(TINY)
        train(model, data, config)
        states.append(model.state_dict())
    for name, tensor in states[0].items():
        assert torch.equal(tensor, states[1][name]), name
    other = GRURecommender(TINY)
    train(other, data, TrainConfig(epochs=2, batch_size=16, lr=1e-2, seed=8, device="cpu"))
    assert not torch.equal(other.item_vectors(), states[0]["item_embedding.weight"])


def test_building_a_model_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    GRURecommender(TINY)
    torch.testing.assert_close(torch.rand(3), expected)


# --- weights -------------------------------------------------------------------------


def test_weights_round_trip_gives_identical_scores(trained: GRURecommender):
    data = model_to_bytes(trained, trained.config)
    loaded = model_from_bytes(data, sha256_hex(data))
    assert loaded.config == trained.config and not loaded.training
    seqs, lengths = pad_sequences([[1, 2, 3], [9]], max_len=20)
    with torch.no_grad():
        expected = trained.scores(trained.user_vectors(seqs, lengths))
        actual = loaded.scores(loaded.user_vectors(seqs, lengths))
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def test_tampered_weights_raise_checksum_error(trained: GRURecommender):
    data = model_to_bytes(trained)
    digest = sha256_hex(data)
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(WeightsChecksumError, match=digest) as caught:
        model_from_bytes(bytes(tampered), digest)
    assert isinstance(caught.value, ValueError)
    assert sha256_hex(bytes(tampered)) in str(caught.value)


def test_model_to_bytes_refuses_a_foreign_config(trained: GRURecommender):
    with pytest.raises(ValueError):
        model_to_bytes(trained, GRUConfig(n_items=3))


# --- catalog growth ------------------------------------------------------------------


def test_grow_items_keeps_old_rows(trained: GRURecommender):
    before = trained.item_vectors().detach().clone()
    grown = grow_items(trained, N_ITEMS + 5, seed=1)
    again = grow_items(trained, N_ITEMS + 5, seed=1)
    rows = grown.item_vectors().detach()
    assert rows.shape == (N_ITEMS + 6, 16) and grown.config.n_items == N_ITEMS + 5
    torch.testing.assert_close(rows[: N_ITEMS + 1], before, rtol=0, atol=0)
    torch.testing.assert_close(rows, again.item_vectors().detach(), rtol=0, atol=0)
    assert 0 < float(rows[N_ITEMS + 1 :].abs().max()) < 0.1  # small, not zero
    torch.testing.assert_close(trained.item_vectors(), before)  # input untouched
    # The recurrent part is unchanged, so old items score as before.
    seqs, lengths = pad_sequences([[1, 2, 3]], max_len=20)
    with torch.no_grad():
        old = trained.scores(trained.user_vectors(seqs, lengths))
        new = grown.eval().scores(grown.user_vectors(seqs, lengths))
    torch.testing.assert_close(new[:, : N_ITEMS + 1], old)
    train(grown, [[N_ITEMS + 5, 1, 2]], TrainConfig(epochs=1, device="cpu"))  # new ids train
    with pytest.raises(ValueError):
        grow_items(trained, N_ITEMS - 1)


def test_config_validation():
    with pytest.raises(ValueError):
        GRUConfig(n_items=0)
    with pytest.raises(ValueError):
        TrainConfig(loss="hinge")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TrainConfig(schedule="step")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TrainConfig(label_smoothing=1.0)
    assert GRUConfig(n_items=3, dim=8).hidden_size == 8
    assert GRUConfig(n_items=3, hidden=12).hidden_size == 12
