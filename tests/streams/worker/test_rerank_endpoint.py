"""Re-ranking on a running worker: POST /rerank, the read client and ``interests rerank``."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from streams.cli.main import main
from streams.devtools.embedded import EmbeddedServices, free_port, start_worker
from streams.read_side import open_reader
from streams.worker.rerank_http import rerank_app
from tests.streams.worker.test_search_stream import DIM, publish_model
from tests.support.harness import events_applied, isolated_settings, produce, wait_until


def post(port: int, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/rerank",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


@pytest.mark.slow
def test_rerank_on_a_running_worker(
    services: EmbeddedServices, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    settings = isolated_settings(services, vector_size=DIM, rerank_port=port, text_model="hashed")
    publish_model(
        settings, text_model="hashed"
    )  # i0, i3, ... shoes; i1, i4, ... hats; i2, i5, ... chairs
    views = [
        (b"u1", orjson.dumps({"user_id": "u1", "type": "view", "item_id": f"i{3 * n}", "ts": n}))
        for n in range(1, 8)
    ]
    produce(settings, views)
    worker = start_worker(settings, tmp_path / "worker.log")
    candidates = ["i31", "nope", "i32", "i30", "i1"]  # hat, unknown, chair, shoe, hat
    try:
        wait_until(
            lambda: events_applied(settings, ["u1"]) == {"u1": 7}, timeout=120, what="the views"
        )
        wait_until(
            lambda: "rerank on http" in (tmp_path / "worker.log").read_text(),
            timeout=30,
            what="the rerank server",
        )
        # The batch's item steps reach Redis with its shared write (the event total with
        # them): both re-ranks below must read the same item vectors.
        totals = open_reader(settings)
        try:
            wait_until(
                lambda: totals.client.get(totals.keys.events_total()) == b"7",
                timeout=30,
                what="the batch's shared state",
            )
        finally:
            totals.close()
        status, body = post(port, orjson.dumps({"user_id": "u1", "items": candidates}))
        bad_status, bad = post(port, b'{"user_id": "u1", "items": "i1"}')
        empty_status, _ = post(port, b"")
    finally:
        worker.stop()
    assert status == 200, body
    items = body["items"]
    assert isinstance(items, list)
    assert items[0]["item_id"] == "i30"  # the one shoe first
    assert items[-1] == {"item_id": "nope", "score": None, "because": None, "input_rank": 1}
    assert body["known_user"] is True and body["model_version"] == "v1"
    assert str(items[0]["because"]).startswith("i") and int(str(items[0]["because"])[1:]) % 3 == 0
    assert (bad_status, bad) == (
        400,
        {"error": "items must be a list of item ids (strings or integers)"},
    )
    assert empty_status == 400

    reader = open_reader(settings)
    try:
        assert reader.rerank("u1", candidates) == body  # the same from the read client
        stranger = reader.rerank("nobody", candidates)
    finally:
        reader.close()
    assert stranger["known_user"] is False
    assert [i["item_id"] for i in stranger["items"]] == candidates  # input order

    assert main(["rerank", "u1", *candidates], settings=settings) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].split()[1] == "i30" and "nope" in printed[-1] and "unknown" in printed[-1]


def test_the_endpoint_refuses_what_is_not_a_rerank() -> None:
    class Unused:
        def rerank(self, user_id: str, items: list[str]) -> dict[str, object]:
            raise AssertionError("a bad request reached Redis")

    app = rerank_app(Unused())  # type: ignore[arg-type]

    def call(method: str, path: str, body: bytes = b"") -> tuple[str, dict[str, object]]:
        import io

        seen: list[str] = []
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        out = b"".join(app(environ, lambda status, headers: seen.append(status)))
        return seen[0], orjson.loads(out)

    assert call("GET", "/metrics")[0].startswith("404")
    assert call("GET", "/rerank")[0].startswith("405")
    assert call("POST", "/rerank", b"[1]") == (
        "400 Bad Request",
        {"error": "body must be a JSON object"},
    )
    many = orjson.dumps({"user_id": "u", "items": [str(n) for n in range(1001)]})
    assert call("POST", "/rerank", many)[1] == {"error": "at most 1000 items per request, got 1001"}
    assert call("POST", "/rerank", b'{"user_id": "", "items": []}')[0].startswith("400")
