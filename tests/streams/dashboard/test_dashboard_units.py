"""The dashboard's token, its freshness quantiles and its trail chart, without a browser."""

from __future__ import annotations

import asyncio
import re

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from models.shadow import ShadowTally
from state.keys import KeyLayout
from state.shadow import ShadowBook, ShadowStage
from streams.dashboard.app import build_app
from streams.dashboard.scrape import quantile
from streams.dashboard.trail import category_lookup, svg_chart, trail_series
from streams.devtools.embedded import EmbeddedServices
from streams.read_side import open_reader
from tests.support.harness import isolated_settings


def test_quantiles_are_the_upper_bound_of_the_bucket_holding_them() -> None:
    buckets = {0.01: 10.0, 0.1: 90.0, 1.0: 99.0, float("inf"): 100.0}
    assert quantile(buckets, 0.5) == 0.1
    assert quantile(buckets, 0.1) == 0.01
    assert quantile(buckets, 0.99) == 1.0
    assert quantile(buckets, 0.999) == float("inf")
    assert quantile({0.1: 0.0, float("inf"): 0.0}, 0.5) is None


def test_the_chart_marks_shifts_and_names_categories() -> None:
    points = [
        {"ts": 100.0, "events": 5, "mix_weight": 0.5, "similarity": 0.9, "top": ["a-1", "a-2"]},
        {"ts": 160.0, "events": 9, "mix_weight": 0.1, "similarity": 0.2, "top": ["b-1", "a-3"],
         "shift": {"ts": 150.0, "strength": 0.4, "to": "b-1"}},
        {"ts": "broken"},
    ]  # fmt: skip
    series = trail_series(points, category_lookup({"b-1": {"category": "books"}}, r"^(\w)-"))
    assert series.ts == [100.0, 160.0] and series.categories == ["a", "books"]
    assert series.shares["a"] == [1.0, 0.5] and series.dominant() == ["a", "a"]
    svg = svg_chart(series)
    assert svg.count('class="shift"') == 1 and "shift to b-1" in svg and ">books<" in svg
    assert "no trail points" in svg_chart(trail_series([], str))


def test_a_token_is_asked_for_everywhere_but_healthz(services: EmbeddedServices) -> None:
    settings = isolated_settings(services, dashboard_token="s3cret")

    async def go() -> list[int]:
        client = TestClient(TestServer(build_app(settings, open_reader(settings))))
        await client.start_server()
        try:
            statuses = []
            for path, headers in (
                ("/", {}),
                ("/?token=wrong", {}),
                ("/healthz", {}),
                ("/?token=s3cret", {}),
                ("/", {"Authorization": "Bearer s3cret"}),
                ("/user/nobody?token=s3cret", {}),
            ):
                response = await client.get(path, headers=headers)
                statuses.append(response.status)
            return statuses
        finally:
            await client.close()

    assert asyncio.run(go()) == [401, 401, 200, 200, 200, 404]


def test_a_shadow_candidate_is_shown_beside_the_current_version(
    services: EmbeddedServices,
) -> None:
    settings = isolated_settings(services)
    reader = open_reader(settings)
    stage = ShadowStage(reader.client, reader.keys)
    stage.start("gru-2")

    async def page() -> str:
        async with aioredis.Redis.from_url(settings.redis_url) as client:
            book = ShadowBook(client, KeyLayout(settings.redis_prefix))
            await book.add("gru-2", ShadowTally(40, 10.0, 14.0, 12, 18))
        client = TestClient(TestServer(build_app(settings, reader)))
        await client.start_server()
        try:
            return await (await client.get("/")).text()
        finally:
            await client.close()

    html = asyncio.run(page())
    assert "Shadow candidate" in html and "gru-2" in html
    # 40 events; NDCG 0.25 vs 0.35, HR 0.30 vs 0.45.
    for cell in ("0.2500", "0.3500", "0.3000", "0.4500"):
        assert f'<td class="num">{cell}</td>' in html
    stage.end("gru-2")
    assert "Shadow candidate" not in asyncio.run(page())


def test_a_recent_user_links_to_their_page_when_ids_are_pseudonymised(
    services: EmbeddedServices,
) -> None:
    settings = isolated_settings(services, user_id_key="dashboard-test-key-0123456789")
    reader = open_reader(settings)
    held = reader.pseudonym("ada@example.com")
    assert held != "ada@example.com"
    reader.client.hset(reader.keys.user(held), mapping={"events_applied": 7, "updated_at": 1.0e9})

    async def pages() -> tuple[str, int, int, int]:
        client = TestClient(TestServer(build_app(settings, reader)))
        await client.start_server()
        try:
            overview = await (await client.get("/")).text()
            link = re.search(r'href="(user/[^"]+)"', overview)
            assert link is not None and held in link.group(1)
            linked = (await client.get("/" + link.group(1))).status
            by_raw = (await client.get("/user/ada@example.com")).status
            hashed_twice = (await client.get(f"/user/{held}")).status
            return overview, linked, by_raw, hashed_twice
        finally:
            await client.close()

    overview, linked, by_raw, hashed_twice = asyncio.run(pages())
    assert "ada@example.com" not in overview
    assert (linked, by_raw, hashed_twice) == (200, 200, 404)
