"""What ``interests demo`` prints: the legend and one formatter per kind of line.

Pure functions of what the demo read from Kafka and Redis, so the wording is
tested without a broker, and the legend and the lines cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams.devtools.synthetic import category_of

LEGEND = """\
how to read the lines below:
  u0 likes c5: c5-i0 c5-i3 c2-i1 c5-i9 c5-i2 (4/5 on topic) [online]
      a watched user's top 5 after one of their events. "likes c5" is the
      category the synthetic user is drawn to right now (ground truth); items
      are named c<category>-i<rank>; "on topic" counts the items from c5;
      [online] means short-term vectors only (no long-term model published yet).
  u0 likes c5: ... [v1, long-term 38%]
      after the refresh: the model version that ranked it and the long-term
      share of this user's blend (the rest is short-term; learned per user).
  * u0 now likes c3
      the synthetic stream moved u0's interest (ground truth): watch "on topic"
      fall, then climb back as the short-term vector follows.
  refresh: ...
      the trainer (a separate process, CPU) trains the GRU on the histories in
      Redis, checks it against most-popular on held-back items, and publishes.
  swap: ...
      the first recommendation from the new version: the worker hot-swapped it
      between batches, without a restart.
  shift: u7 from c2-i4 to c6-i1 ...
      from the interest-shifts topic: the worker saw a user's choices leave
      their long-term interest (needs a published model); "real" when the
      stream did switch that user shortly before, "false alarm" otherwise.
  rerank: POST http://127.0.0.1:PORT/rerank for u0 (likes c5): c5-i0 0.83, ...
      at the end, the running worker re-ranks one item of every category and
      one unknown item for u0 (POST /rerank), with each item's score; unknown
      items keep their input order after the known ones."""


@dataclass(frozen=True)
class RecView:
    """One recommendation of a watched user, as the demo shows it."""

    user_id: str
    wanted: int
    items: Sequence[str]
    version: str
    long_term_share: float | None


def rec_line(view: RecView) -> str:
    """
    >>> print(rec_line(RecView("u0", 5, ["c5-i0", "c2-i1"], "online", None)))
      u0 likes c5: c5-i0    c2-i1    (1/2 on topic) [online]
    >>> print(rec_line(RecView("u0", 5, ["c5-i0"], "v1", 0.381)))
      u0 likes c5: c5-i0    (1/1 on topic) [v1, long-term 38%]
    """
    on_topic = sum(category_of(i) == view.wanted for i in view.items)
    model = view.version
    if view.long_term_share is not None:
        model += f", long-term {view.long_term_share:.0%}"
    items = " ".join(f"{i:<8}" for i in view.items)
    return (
        f"  {view.user_id} likes c{view.wanted}: {items} "
        f"({on_topic}/{len(view.items)} on topic) [{model}]"
    )


def switch_line(user_id: str, category: int) -> str:
    """
    >>> switch_line("u0", 3)
    '* u0 now likes c3'
    """
    return f"* {user_id} now likes c{category}"


def refresh_started_line(users: int, events: int) -> str:
    return (
        f"refresh: the trainer starts on {users} users' histories ({events} events so far); "
        "the worker keeps serving"
    )


def overtime_line(limit_s: float) -> str:
    return (
        f"the refresh is slower than planned (a busy machine): streaming on until the swap "
        f"shows, at most {limit_s:.0f}s more"
    )


def refresh_line(update: dict[str, object]) -> str:
    """A ``model-updates`` message.

    >>> print(refresh_line({"version": "v1", "ndcg_at_10": 0.41, "baseline": "popularity",
    ...     "baseline_ndcg_at_10": 0.08, "held_out": 90, "train_seconds": 2.5, "device": "cpu"}))
    ... # doctest: +NORMALIZE_WHITESPACE
    refresh: published v1: NDCG@10 0.410 vs popularity 0.080 on 90 held-back items
    (trained 2.5s on cpu)
    """
    return (
        f"refresh: published {update.get('version')}: "
        f"NDCG@10 {_num(update.get('ndcg_at_10'))} vs {update.get('baseline')} "
        f"{_num(update.get('baseline_ndcg_at_10'))} on {update.get('held_out')} held-back items "
        f"(trained {_num(update.get('train_seconds'), 1)}s on {update.get('device')})"
    )


def refresh_failed_line(status: int | None) -> str:
    return (
        f"refresh: nothing published (trainer exit status {status}); "
        "the current version stays (see trainer.log under --workdir)"
    )


def swap_line(old: str, new: str, seconds_after_publish: float | None) -> str:
    """
    >>> swap_line("online", "v1", 0.8)
    'swap: recommendations now come from v1 (was online), 0.8s after it was published'
    """
    after = ""
    if seconds_after_publish is not None:
        after = f", {seconds_after_publish:.1f}s after it was published"
    return f"swap: recommendations now come from {new} (was {old}){after}"


def shift_line(shift: dict[str, object], truth: str) -> str:
    """An ``interest-shifts`` message and what the stream really did.

    >>> print(shift_line({"user_id": "u7", "from": "c2-i4", "to": "c6-i1", "strength": 3.14159},
    ...                  "real: u7 switched c2 -> c6 1.5s before"))
    shift: u7 from c2-i4 to c6-i1 (strength 3.14; real: u7 switched c2 -> c6 1.5s before)
    """
    return (
        f"shift: {shift.get('user_id')} from {shift.get('from')} to {shift.get('to')} "
        f"(strength {_num(shift.get('strength'), 2)}; {truth})"
    )


def _num(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "?"


def rerank_line(user_id: str, wanted: int, port: int, answer: dict[str, object]) -> str:
    """What ``POST /rerank`` answered for one watched user's candidate list.

    >>> answer = {"items": [{"item_id": "c3-i0", "score": 0.61},
    ...                     {"item_id": "c1-i0", "score": -0.2},
    ...                     {"item_id": "no-such-item", "score": None}]}
    >>> print(rerank_line("u0", 3, 8080, answer))
    rerank: POST http://127.0.0.1:8080/rerank for u0 (likes c3): c3-i0 0.61, c1-i0 -0.20, no-such-item (unknown; kept last)
    """  # noqa: E501
    shown = []
    for item in answer.get("items") or []:  # type: ignore[attr-defined]
        score = item.get("score")
        name = str(item.get("item_id"))
        shown.append(f"{name} {score:.2f}" if score is not None else f"{name} (unknown; kept last)")
    return (
        f"rerank: POST http://127.0.0.1:{port}/rerank for {user_id} (likes c{wanted}): "
        + ", ".join(shown)
    )
