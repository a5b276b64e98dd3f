"""Every knob of an evaluation run, in one frozen, seedable object."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from models.evaluation.long_term_source import LongTermMode
from models.interest_model import InterestConfig
from models.long_term import TrainConfig
from models.long_term.fit import LongTermConfig
from models.long_term.refresh import RefreshConfig


@dataclass(frozen=True)
class MFConfig:
    """river's BiasedMF on implicit feedback: logistic loss, sampled negatives."""

    factors: int = 32
    learning_rate: float = 0.2
    l2: float = 0.001
    negatives: int = 20
    init_sigma: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class EvalConfig:
    """Shared by the prequential, leave-one-out and drift protocols.

    ``interest`` configures the short-term and blend variants exactly as the
    worker's settings do; ``long_term.dim`` is also the dimension of their
    item tables, so the blend can take over the GRU's item vectors.
    """

    k: int = 10
    seed: int = 0
    long_term: LongTermConfig = field(default_factory=LongTermConfig)
    training: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=20, batch_size=64, lr=3e-3)
    )
    interest: InterestConfig = field(default_factory=InterestConfig)
    mf: MFConfig = field(default_factory=MFConfig)
    blend_prior: float = 0.5
    blend_priors: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    swap_learning_rate: float | None = 0.05
    """Online item-vector step after the blend takes the GRU's vectors (None: unchanged)."""
    long_term_mode: LongTermMode = "event"
    learn_mix: bool = True
    """Let the blend's :class:`~models.blend.MixWeightLearner` learn; False holds the prior."""
    popularity_half_life_s: float = 86_400.0
    refresh_every: int = 10_000
    exclude_seen: bool = False
    patience: int = 3
    min_steps: int = 100
    """The trainer's step floor per refresh, in the streaming protocols (prequential, drift),
    whose refreshes train as the trainer's (:meth:`refresh_config`)."""

    def __post_init__(self) -> None:
        if self.k < 1 or self.refresh_every < 1 or self.patience < 1:
            raise ValueError("k, refresh_every and patience must be positive")
        if not 0.0 < self.blend_prior < 1.0:
            raise ValueError("blend_prior must be in (0, 1)")

    @property
    def dim(self) -> int:
        return self.long_term.dim

    def refresh_config(self) -> RefreshConfig:
        """How a streaming protocol's GRU refreshes train: as the trainer's (step floor,
        early stopping on held-back items) with this run's shape and recipe."""
        lt = self.long_term
        return RefreshConfig(
            dim=lt.dim,
            max_len=lt.max_len,
            dropout=lt.dropout,
            k=self.k,
            patience=self.patience,
            min_steps=self.min_steps,
            seed=lt.seed,
            train=self.training,
        )

    def seeded(self, seed: int) -> EvalConfig:
        """The same run under another seed: every random source moves with it."""
        return replace(
            self,
            seed=seed,
            long_term=replace(self.long_term, seed=seed),
            training=replace(self.training, seed=seed),
            mf=replace(self.mf, seed=seed),
        )
