"""The dashboard: server-rendered HTML over Redis and the workers' /metrics.

Read-only, no JavaScript: the overview refreshes itself every few seconds. It
shows throughput, freshness percentiles, dead letters, live quality per model
version, the model registry and the trainer's gate, each scraped process's
status, recently active users and trending items; a user page shows the
user's state, current recommendations (with whatever explanation fields they
carry) and their interest-evolution chart. Loopback by default; off loopback
it needs ``INTERESTS_DASHBOARD_TOKEN`` (as ``?token=`` or a Bearer header).
"""

from __future__ import annotations

import asyncio
import hmac
import html
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from state import InterestReader
from streams.dashboard.data import StoreSummary, UserPage, summary, user_page
from streams.dashboard.scrape import QUANTILES, Overview, Scraper
from streams.dashboard.trail import svg_chart
from streams.settings import Settings

REFRESH_S = 5
LOOPBACK = ("127.0.0.1", "::1", "localhost")

READER = web.AppKey("reader", InterestReader)
SCRAPER = web.AppKey("scraper", Scraper)
SETTINGS = web.AppKey("settings", Settings)
LATEST = web.AppKey("latest", dict)  # "overview": the background scrape's last Overview
SCRAPING = web.AppKey("scraping", asyncio.Task)
PATTERN = web.AppKey("category_pattern", str)


def metrics_urls(settings: Settings) -> list[str]:
    """The configured URLs, else the local worker's /metrics when it serves one."""
    if settings.dashboard_metrics_urls.strip():
        return [u.strip() for u in settings.dashboard_metrics_urls.split(",") if u.strip()]
    if settings.metrics_port > 0:
        host = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "") else settings.metrics_host
        return [f"http://{host}:{settings.metrics_port}/metrics"]
    return []


def needs_token(settings: Settings) -> bool:
    return settings.dashboard_host not in LOOPBACK


def build_app(
    settings: Settings, reader: InterestReader, category_pattern: str = ""
) -> web.Application:
    app = web.Application(middlewares=[_token_check(settings.dashboard_token)])
    app[READER] = reader
    app[SCRAPER] = Scraper(metrics_urls(settings))
    app[SETTINGS] = settings
    app[PATTERN] = category_pattern
    app.on_startup.append(_start_scraping)
    app.on_cleanup.append(_stop_scraping)
    app.router.add_get("/", overview)
    app.router.add_get("/user/{user_id}", user)
    app.router.add_get("/healthz", healthz)
    return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _token_check(token: str) -> Any:
    """A middleware asking for ``token`` (none when empty); /healthz stays open."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and request.path != "/healthz":
            given = request.query.get("token", "")
            header = request.headers.get("Authorization", "")
            if header.startswith("Bearer "):
                given = header.removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise web.HTTPUnauthorized(text="a dashboard token is required\n")
        response: web.StreamResponse = await handler(request)
        return response

    return check


async def _start_scraping(app: web.Application) -> None:
    """Scrape every REFRESH_S in the background, so events/s is there on the first load."""
    app[LATEST] = {}

    async def loop() -> None:
        while True:
            app[LATEST]["overview"] = (
                time.monotonic(),
                await asyncio.to_thread(app[SCRAPER].overview),
            )
            await asyncio.sleep(REFRESH_S)

    app[SCRAPING] = asyncio.get_running_loop().create_task(loop())


async def _stop_scraping(app: web.Application) -> None:
    app[SCRAPING].cancel()


async def _overview_now(app: web.Application) -> Overview:
    """The background scrape's result while it is fresh, else a scrape now."""
    latest = app[LATEST].get("overview")
    if latest is not None and time.monotonic() - latest[0] < 2 * REFRESH_S:
        cached: Overview = latest[1]
        return cached
    return await asyncio.to_thread(app[SCRAPER].overview)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def overview(request: web.Request) -> web.Response:
    app = request.app
    scraped, stored = await asyncio.gather(
        _overview_now(app), asyncio.to_thread(summary, app[READER])
    )
    return _html("interest-evolution", _overview_body(scraped, stored, _suffix(request)), REFRESH_S)


async def user(request: web.Request) -> web.Response:
    app = request.app
    user_id = request.match_info["user_id"]
    # Links from the recently-active list carry the id Redis holds (a pseudonym where
    # they are on), which must not be hashed again; a typed-in URL takes the raw id.
    reader = app[READER].by_held_id() if request.query.get("held") == "1" else app[READER]
    page = await asyncio.to_thread(user_page, reader, user_id, app[PATTERN] or None)
    if page is None:
        raise web.HTTPNotFound(
            text=_page(f"user {user_id}", f"<p>no state for user {_e(user_id)}</p>", None),
            content_type="text/html",
        )
    return _html(f"user {user_id}", _user_body(page, _suffix(request)), REFRESH_S)


def _suffix(request: web.Request) -> str:
    token = request.query.get("token")
    return f"?token={quote(token)}" if token else ""


def _html(title: str, body: str, refresh: int | None) -> web.Response:
    return web.Response(text=_page(title, body, refresh), content_type="text/html")


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left}th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}
.tiles{display:flex;gap:1em;flex-wrap:wrap}.tile{border:1px solid #ccc;border-radius:6px;
padding:.6em 1em;min-width:9em}.tile b{display:block;font-size:1.6em}.down{color:#b00}
.up{color:#070}h2{margin-top:1.2em}
"""


def _page(title: str, body: str, refresh: int | None) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1>{body}<p><small>rendered "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC</small></p></body></html>"
    )


def _e(text: object) -> str:
    return html.escape(str(text))


def _n(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


def _seconds(value: float | None, beyond: float | None = None) -> str:
    if value is None:
        return "–"
    if math.isinf(value):
        return f"> {_seconds(beyond)}" if beyond is not None else "∞"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _when(ts: float | None) -> str:
    return "–" if not ts else f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d %H:%M:%S}"


def _tile(ident: str, label: str, value: str) -> str:
    return f'<div class="tile"><b id="{ident}">{value}</b>{_e(label)}</div>'


def _overview_body(o: Overview, s: StoreSummary, suffix: str) -> str:
    dead = sum(o.dead_letters.values())
    parts = [
        '<div class="tiles">',
        _tile("events-applied", "events applied (scraped workers)", _n(o.applied)),
        _tile("throughput", f"events/s (last {REFRESH_S} s)", _n(o.events_per_s, 1)),
        _tile("recommendations", "recommendations produced", _n(o.recommendations)),
        _tile("dead-letters", "dead-lettered", _n(dead)),
        _tile("users", "users (sampled)" if s.users_capped else "users", _n(s.users_seen)),
        _tile(
            "events-total",
            "chosen items recorded (all workers; the trainer's counter)",
            _n(s.events_total),
        ),
        _tile("model-version", "model in use", _e(s.model_version or "online")),
        "</div>",
        "<h2>Freshness</h2><table><tr><th>event time to</th>",
        *(f"<th>p{int(q * 100)}</th>" for q in QUANTILES),
        "</tr>",
    ]
    for kind, label in (("state", "state written"), ("recommendation", "recommendation sent")):
        cells = o.freshness.get(kind, {})
        parts.append(f"<tr><td>{label}</td>")
        parts += [
            f'<td class="num" id="freshness-{kind}-p{int(q * 100)}">'
            f"{_seconds(cells.get(q), o.freshness_bound.get(kind))}</td>"
            for q in QUANTILES
        ]
        parts.append("</tr>")
    parts.append(
        "</table><h2>Dead letters by reason</h2><table><tr><th>reason</th><th>count</th></tr>"
    )
    for reason, count in sorted(o.dead_letters.items()):
        parts.append(
            f'<tr><td>{_e(reason)}</td><td class="num" id="dlq-{_e(reason)}">{_n(count)}</td></tr>'
        )
    parts.append(
        "</table><h2>Live quality (each event vs the list its user was last shown)</h2>"
        "<table><tr><th>model version</th><th>scored events</th><th>HR@K</th><th>NDCG@K</th>"
        "<th>MRR@K</th><th>window HR / NDCG / MRR</th></tr>"
    )
    for version, live in sorted(o.live.items()):
        w = live.window
        window = " / ".join(_n(w.get(m), 3) for m in ("hit_rate", "ndcg", "mrr"))
        scored = live.scored or None
        parts.append(
            f'<tr id="live-{_e(version)}"><td>{_e(version)}</td>'
            f'<td class="num live-scored">{_n(live.scored)}</td>'
            f'<td class="num live-hr">{_n(live.hit_rate, 3)}</td>'
            f'<td class="num">{_n(live.ndcg / scored if scored else None, 3)}</td>'
            f'<td class="num">{_n(live.rr / scored if scored else None, 3)}</td>'
            f'<td class="num">{window}</td></tr>'
        )
    parts.append(
        "</table><h2>Processes</h2><table><tr><th>/metrics</th><th>kind</th><th>status</th>"
        "<th>events applied</th><th>events/s</th><th>model</th><th>model age</th><th>lag</th></tr>"
    )
    for t in o.targets:
        status = (
            '<span class="up">up</span>'
            if t.up
            else f'<span class="down">down: {_e(t.error)}</span>'
        )
        parts.append(
            f'<tr class="target"><td>{_e(t.url)}</td><td>{t.kind}</td><td>{status}</td>'
            f'<td class="num">{_n(t.applied) if t.up else "–"}</td>'
            f'<td class="num">{_n(t.events_per_s, 1)}</td>'
            f'<td>{_e(t.model_version or "–")}</td><td class="num">{_seconds(t.model_age_s)}</td>'
            f'<td class="num">{_n(t.lag) if t.up else "–"}</td></tr>'
        )
    if not o.targets:
        parts.append(
            '<tr><td colspan="8">no /metrics configured (INTERESTS_METRICS_PORT or '
            "INTERESTS_DASHBOARD_METRICS_URLS)</td></tr>"
        )
    parts.append(
        "</table><h2>Model registry</h2><table><tr><th>version</th><th>published</th>"
        "<th>figures</th></tr>"
    )
    for row in s.registry:
        figures = ", ".join(
            f"{_e(k)}={_e(v)}"
            for k, v in sorted(row.figures.items())
            if not isinstance(v, list | dict)
        )
        marker = " (in use)" if row.version == s.model_version else ""
        parts.append(
            f"<tr><td>{_e(row.version)}{marker}</td><td>{_when(row.published_at)}</td><td>{figures}</td></tr>"
        )
    if not s.registry:
        parts.append(
            '<tr><td colspan="3">no published version: the online-only model is in use</td></tr>'
        )
    parts.append("</table>")
    if s.shadow is not None:
        version, tally = s.shadow
        current, candidate = tally.mean_ndcg()
        n = max(tally.events, 1)
        parts.append(
            "<h2>Shadow candidate (scored beside the current version, not served)</h2><table>"
            "<tr><th>candidate</th><th>live events</th><th>NDCG current</th>"
            "<th>NDCG candidate</th><th>HR current</th><th>HR candidate</th></tr>"
            f'<tr><td>{_e(version)}</td><td class="num">{_n(tally.events)}</td>'
            f'<td class="num">{_n(current, 4)}</td><td class="num">{_n(candidate, 4)}</td>'
            f'<td class="num">{_n(tally.current_hits / n, 4)}</td>'
            f'<td class="num">{_n(tally.candidate_hits / n, 4)}</td></tr></table>'
        )
    if o.trainer:
        parts.append("<h2>Trainer (refreshes and the gate)</h2><table>")
        for key, value in sorted(o.trainer.items()):
            parts.append(f'<tr><td>{_e(key)}</td><td class="num">{_n(value, 4)}</td></tr>')
        parts.append("</table>")
    parts.append(
        f"<h2>Recently active users</h2><p>catalogue: {s.catalogue} items, "
        f"{s.unavailable} unavailable; "
        f"trending: {_e(' '.join(s.trending) or '(none yet)')}</p>"
        "<table><tr><th>user</th><th>events applied</th><th>updated</th><th>model</th></tr>"
    )
    for user_row in s.recent:
        link = f"user/{quote(user_row.user_id, safe='')}{suffix}{'&' if suffix else '?'}held=1"
        parts.append(
            f'<tr class="user-row"><td><a href="{link}">{_e(user_row.user_id)}</a></td>'
            f'<td class="num">{user_row.events_applied}</td>'
            f"<td>{_when(user_row.updated_at)}</td><td>{_e(user_row.model_version)}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


def _user_body(page: UserPage, suffix: str) -> str:
    st = page.state
    parts = [
        f'<p><a href="../{suffix}">← overview</a></p><div class="tiles">',
        _tile("user-events", "events applied", str(st.events_applied)),
        _tile("user-last-event", "last event (UTC)", _when(st.last_event_ts)),
        _tile("user-model", "model version", _e(st.model_version or "–")),
        _tile("user-mix", "long-term weight of the blend", _n(st.mix_weight, 3)),
        "</div><h2>Interest evolution</h2>",
        svg_chart(page.trail),
    ]
    if page.trail.shifts:
        parts.append("<table><tr><th>shift at</th><th>to</th><th>strength</th></tr>")
        for shift in page.trail.shifts:
            parts.append(
                f'<tr class="shift-row"><td>{_when(shift.ts)}</td><td>{_e(shift.to)}</td>'
                f'<td class="num">{shift.strength:.2f}</td></tr>'
            )
        parts.append("</table>")
    extra = sorted({k for r in st.recommendations for k in r} - {"item_id", "score"})
    parts.append("<h2>Current recommendations</h2><table><tr><th>#</th><th>item</th><th>score</th>")
    parts += [f"<th>{_e(k)}</th>" for k in extra]
    parts.append("</tr>")
    for rank, rec in enumerate(st.recommendations, 1):
        cells = "".join(f"<td>{_e(rec.get(k, ''))}</td>" for k in extra)
        parts.append(
            f'<tr class="rec"><td class="num">{rank}</td><td>{_e(rec["item_id"])}</td>'
            f'<td class="num">{float(rec["score"]):.4f}</td>{cells}</tr>'
        )
    parts.append(f"</table><p>recent items: {_e(' '.join(st.recent_items[:20]))}</p>")
    return "".join(parts)


def serve(settings: Settings, reader: InterestReader, category_pattern: str = "") -> None:
    """Run the dashboard in the foreground until Ctrl-C."""
    app = build_app(settings, reader, category_pattern)
    print(
        f"dashboard on http://{settings.dashboard_host}:{settings.dashboard_port}/ "
        f"(metrics from {', '.join(app[SCRAPER].urls) or 'nowhere'})",
        flush=True,
    )
    try:
        web.run_app(
            app,
            host=settings.dashboard_host,
            port=settings.dashboard_port,
            print=None,
            handle_signals=True,
        )
    finally:
        reader.close()
