"""Surfaces (home feed, search page, product page, ...): where an event happened.

Each surface has its own long-/short-term mix weight: a global prior per
surface and a per-user offset per surface (:class:`models.blend.MixWeightLearner`
with ``surfaces=n``). Surfaces are a short, configured list of names; the
first is the default, taken by events that name none, so producers that never
send a surface see no change. Index 0 is always the default surface.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_SURFACES = ("home",)
MAX_SURFACE_LENGTH = 32
"""Longest surface name, in characters."""
MAX_SURFACES = 16
"""Most surfaces a deployment may name: it bounds the global priors and each user's offsets."""
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*\Z")


def check_surface_name(value: object) -> str:
    """``value`` if it is a well-formed surface name; else ValueError with the reason.

    >>> check_surface_name("product_page")
    'product_page'
    >>> check_surface_name("Home Feed")
    Traceback (most recent call last):
    ...
    ValueError: surface 'Home Feed' is not lower-case a-z, 0-9, '_', '.', '-'
    """
    if not isinstance(value, str):
        raise ValueError(f"surface must be a string, not {type(value).__name__}")
    if not value:
        raise ValueError("empty surface")
    if len(value) > MAX_SURFACE_LENGTH:
        raise ValueError(f"surface longer than {MAX_SURFACE_LENGTH} characters")
    if not _NAME.match(value):
        raise ValueError(
            f"surface {value[:MAX_SURFACE_LENGTH]!r} is not lower-case a-z, 0-9, '_', '.', '-'"
        )
    return value


def parse_surfaces(text: str) -> tuple[str, ...]:
    """The configured surface names (``"home,search"``), each once; the first is the default.

    >>> parse_surfaces(" home, search ,home")
    ('home', 'search')
    """
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not names:
        raise ValueError("at least one surface is needed")
    if len(names) > MAX_SURFACES:
        raise ValueError(f"at most {MAX_SURFACES} surfaces")
    for name in names:
        check_surface_name(name)
    return names


@dataclass(frozen=True, slots=True)
class SurfaceSet:
    """The configured surfaces: names by index (0: the default) and back.

    >>> s = SurfaceSet(("home", "search"))
    >>> s.index(None), s.index("search"), s.name(0), s.default
    (0, 1, 'home', 'home')
    """

    names: tuple[str, ...] = DEFAULT_SURFACES

    @property
    def default(self) -> str:
        return self.names[0]

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str | None) -> int:
        """A known name's index; None (no surface sent) is the default, 0."""
        return 0 if name is None else self.names.index(name)

    def name(self, index: int) -> str:
        return self.names[index]

    def offsets_of(self, stored: Mapping[str, float]) -> tuple[float, ...]:
        """A user's stored offsets of the non-default surfaces (by name), as the fold's
        ``surface_offsets``: index ``i - 1`` holds surface ``i``; surfaces no longer
        configured are dropped."""
        return tuple(float(stored.get(n, 0.0)) for n in self.names[1:])


def offset_matrix(
    default_offsets: Sequence[float], others: Sequence[Sequence[float]], n_surfaces: int
) -> np.ndarray:
    """Users × surfaces offsets: column 0 the default surface's, then the others
    (missing ones 0, extra ones dropped).

    >>> offset_matrix([0.5, -1.0], [(2.0,), ()], 3).tolist()
    [[0.5, 2.0, 0.0], [-1.0, 0.0, 0.0]]
    """
    out = np.zeros((len(default_offsets), n_surfaces), np.float64)
    out[:, 0] = default_offsets
    for row, values in enumerate(others):
        take = min(len(values), n_surfaces - 1)
        if take:
            out[row, 1 : 1 + take] = values[:take]
    return out


def current_offsets(
    default_offsets: Sequence[float], others: Sequence[Sequence[float]], surfaces: Sequence[int]
) -> np.ndarray:
    """Each user's offset on their own ``surfaces[i]`` (0: the default one's).

    >>> current_offsets([0.5, -1.0], [(2.0,), ()], [1, 1]).tolist()
    [2.0, 0.0]
    """
    out = np.asarray(default_offsets, np.float64).copy()
    for row, surface in enumerate(surfaces):
        if surface:
            values = others[row]
            out[row] = values[surface - 1] if surface - 1 < len(values) else 0.0
    return out
