"""river's online matrix factorisation, the pure online peer, made rankable.

:class:`river.reco.BiasedMF` learns one (user, item) pair per call. On
implicit feedback every observed pair is a positive (label 1) and
``negatives`` uniformly sampled items are labelled 0, under logistic loss.
Scoring a whole catalogue through ``predict_one`` would be one Python call
per item, so the item latents and biases are mirrored into numpy rows as
they change.
"""

from __future__ import annotations

import numpy as np
from river import optim, reco

from models.evaluation.config import MFConfig


class OnlineMF:
    """BiasedMF plus a numpy mirror of its item side, indexed by catalogue row.

    >>> mf = OnlineMF(MFConfig(factors=4, negatives=1, seed=1))
    >>> for _ in range(20):
    ...     mf.learn("u", "a", 0, negatives=[("b", 1)])
    >>> scores = mf.scores("u", 2)
    >>> bool(scores[0] > scores[1])
    True
    """

    def __init__(self, config: MFConfig) -> None:
        self.config = config
        self.model = reco.BiasedMF(
            n_factors=config.factors,
            bias_optimizer=optim.SGD(config.learning_rate),
            latent_optimizer=optim.SGD(config.learning_rate),
            loss=optim.losses.Log(),
            l2_bias=config.l2,
            l2_latent=config.l2,
            latent_initializer=optim.initializers.Normal(sigma=config.init_sigma, seed=config.seed),
            seed=config.seed,
        )
        self.latents = np.zeros((1024, config.factors), dtype=np.float64)
        self.biases = np.zeros(1024, dtype=np.float64)

    def learn(
        self,
        user: str,
        item: str,
        row: int,
        negatives: list[tuple[str, int]],
        positive: bool = True,
    ) -> None:
        """One observed pair (label ``positive``) and its sampled negatives."""
        self._learn_one(user, item, row, 1 if positive else 0)
        for negative, negative_row in negatives:
            self._learn_one(user, negative, negative_row, 0)

    def scores(self, user: str, n_rows: int) -> np.ndarray:
        """Scores of catalogue rows ``0..n_rows-1``; an unseen user gets item biases only."""
        self._ensure(n_rows)
        scores: np.ndarray = self.biases[:n_rows].copy()
        latent = self.model.u_latents.get(user)
        if latent is not None:
            scores += self.latents[:n_rows] @ latent
        return scores

    def _learn_one(self, user: str, item: str, row: int, label: int) -> None:
        self.model.learn_one(user, item, label)  # type: ignore[no-untyped-call]
        self._ensure(row + 1)
        self.latents[row] = self.model.i_latents[item]
        self.biases[row] = self.model.i_biases[item]

    def _ensure(self, n_rows: int) -> None:
        if n_rows <= self.biases.shape[0]:
            return
        size = max(n_rows, 2 * self.biases.shape[0])
        latents = np.zeros((size, self.config.factors), dtype=np.float64)
        latents[: self.latents.shape[0]] = self.latents
        biases = np.zeros(size, dtype=np.float64)
        biases[: self.biases.shape[0]] = self.biases
        self.latents, self.biases = latents, biases
