"""What a fetch asks of a (real, loopback) server, and for how long: the deadline of one
download, remembered failures, and one request per page and per image however it is reached."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import yaml
from dataset_run import FAST, by_source
from http_fixtures import Reply, png_bytes

from nst.cli.main import main
from nst.dataset.manifest import read_manifest


def timed(run, sources, **kwargs):
    start = time.monotonic()
    rows = run(sources, **kwargs)
    elapsed = time.monotonic() - start
    print(f"elapsed {elapsed:.2f} s, {run.lines[-1]}")
    return rows, elapsed


# ------------------------------------------------------------------------------------------------
# The deadline of one download


def test_dripping_server_is_cut_off_at_the_deadline(server, run, style_file):
    url = server.add("/drip.png", Reply(200, png_bytes(40), "image/png", drip=0.25))
    rows, elapsed = timed(
        run,
        {"content": [url, style_file], "style": [style_file]},
        http={"timeout": 1, "retries": 2, "deadline": 1.5},
    )
    note = by_source(rows)[url]["note"]
    assert note.startswith(f"{url} took longer than the http.deadline of 1.5 s (")
    assert note.endswith(" bytes received); try again later or raise http.deadline.")
    assert 1.5 <= elapsed < 2.3
    assert server.counts["/drip.png"] == 1  # the time is spent: no retry


def test_default_deadline_is_four_timeouts(server, run, style_file):
    url = server.add("/drip.png", Reply(200, b"x" * 40, "image/png", drip=0.25))  # 10 s in all
    rows, elapsed = timed(
        run,
        {"content": [url, style_file], "style": [style_file]},
        http={"timeout": 0.5, "retries": 0},
    )
    assert "took longer than the http.deadline of 2 s" in by_source(rows)[url]["note"]
    assert 2 <= elapsed < 2.8


def test_deadline_bounds_retries_and_their_waits(server, run, style_file):
    url = server.add("/busy.png", Reply(503, b"", "text/plain", {"Retry-After": "1"}))
    rows, elapsed = timed(
        run,
        {"content": [url, style_file], "style": [style_file]},
        http={"retries": 10, "deadline": 2.5},
    )
    note = by_source(rows)[url]["note"]
    assert "http.deadline of 2.5 s (HTTP 503 Service Unavailable, and no time left" in note
    assert server.counts["/busy.png"] == 3  # at 0, 1 and 2 s; a wait of 1 s more would not fit
    assert 2 <= elapsed < 2.5


# ------------------------------------------------------------------------------------------------
# Remembered failures


def failing_sources(server, style_file) -> tuple[dict, dict]:
    """One good image and four that fail in different ways, one of them slowly."""
    urls = {
        "ok": server.image("/ok.png", png_bytes(50)),
        "gone": server.url("/gone.png"),  # 404
        "busy": server.add("/busy.png", Reply(503, b"", "text/plain")),
        "stalled": server.add("/stalled.png", Reply(200, png_bytes(51), "image/png", delay=3)),
        "fake": server.add("/fake.png", Reply(200, b"<html>oops</html>", "image/png")),
    }
    return {"content": [*urls.values()], "style": [style_file]}, urls


HTTP = {"timeout": 0.5, "retries": 1}


def test_rerun_does_not_ask_again_for_known_failures(server, run, style_file):
    sources, urls = failing_sources(server, style_file)
    first, _ = timed(run, sources, http=HTTP)
    # robots.txt, ok, gone, busy twice, stalled twice (0.5 s each), fake
    assert server.total == 8
    notes = {name: by_source(first)[url]["note"] for name, url in urls.items()}
    assert notes["ok"] == "" and all(notes[n] for n in ("gone", "busy", "stalled", "fake"))

    second, elapsed = timed(run, sources, http=HTTP)
    assert server.total == 8 and elapsed < 0.5
    assert run.lines[-1].startswith("dataset: 1 content and 1 style image(s), 0 duplicate(s), 4")
    assert " 0 HTTP request(s);" in run.lines[-1]
    for name in ("gone", "busy", "stalled", "fake"):
        row = by_source(second)[urls[name]]
        assert row["status"] == "failed"
        assert row["note"] == notes[name]  # worded as when it failed (issue 22)
        said = [line for line in run.lines if line.startswith(f"dataset:   {urls[name]} failed")]
        assert len(said) == 1 and "not requested again before" in said[0]
        assert said[0].endswith("or sooner with `nst fetch --retry-failed`.")


def test_retry_failed_asks_again_for_the_failures_only(server, run, style_file):
    sources, urls = failing_sources(server, style_file)
    run(sources, http=HTTP)
    server.image("/gone.png", png_bytes(52))  # the missing image is back
    before = dict(server.counts)
    rows = run(sources, http=HTTP, retry_failed=True)
    asked = {path: server.counts[path] - before.get(path, 0) for path in server.counts}
    assert asked == {
        "/robots.txt": 1,
        "/ok.png": 0,
        "/gone.png": 1,
        "/busy.png": 2,
        "/stalled.png": 2,
        "/fake.png": 1,
    }
    assert by_source(rows)[urls["gone"]]["status"] == "ok"
    total = server.total
    run(sources, http=HTTP)
    assert server.total == total


def test_remembered_failures_are_retried_after_retry_failed_hours(server, run, style_file):
    gone = server.url("/gone.png")
    sources = {"content": [gone, style_file], "style": [style_file]}
    run(sources)
    run(sources)
    assert server.counts["/gone.png"] == 1
    memory = run.cache / "failures.json"
    entries = json.loads(memory.read_text())
    assert set(entries) == {gone}
    entries[gone]["failed"] = (datetime.now(timezone.utc) - timedelta(hours=25)).isoformat()
    memory.write_text(json.dumps(entries))
    run(sources)  # the default retry_failed_hours is 24
    assert server.counts["/gone.png"] == 2
    run(sources, retry_failed_hours=0)  # 0: failures are not remembered between runs
    assert server.counts["/gone.png"] == 3


def test_remembered_failure_is_retried_when_the_http_settings_change(server, run, style_file):
    big = server.image("/big.png", png_bytes(54, size=(100, 100)))
    sources = {"content": [big, style_file], "style": [style_file]}
    for _ in range(2):
        rows = run(sources, http={"max_bytes": 1000})
        assert "more than http.max_bytes = 1000" in by_source(rows)[big]["note"]
    assert server.counts["/big.png"] == 1
    rows = run(sources)  # the limit raised, as the failure suggested
    assert by_source(rows)[big]["status"] == "ok" and server.counts["/big.png"] == 2


def test_fetch_command_retry_failed(server, tmp_path, style_file, capsys):
    config = tmp_path / "config.yaml"
    dataset = {
        "sources": {"content": [server.url("/later.png"), style_file], "style": [style_file]},
        "http": {**FAST, "retries": 0},
        "cache_dir": str(tmp_path / "cache"),
        "retry_failed_hours": 48,
    }
    config.write_text(yaml.safe_dump({"dataset": dataset}))
    out = ["--images-dir", str(tmp_path / "out")]
    assert main(["fetch", str(config), *out]) == 0
    server.image("/later.png", png_bytes(53))
    assert main(["fetch", str(config), *out]) == 0
    assert server.counts["/later.png"] == 1
    assert main(["fetch", str(config), *out, "--retry-failed"]) == 0
    assert server.counts["/later.png"] == 2
    rows = read_manifest(tmp_path / "out" / "manifest.tsv")
    assert [r["file"] for r in rows][0] == "content/later.png"


# ------------------------------------------------------------------------------------------------
# One request per page and per image


def test_a_page_listed_by_several_sources_is_fetched_once_per_run(server, run):
    for i, name in enumerate("abc"):
        server.image(f"/g/{name}.png", png_bytes(60 + i))
    page = server.html("/g/index.html", '<img src="a.png"><img src="b.png"><img class=x src=c.png>')
    sources = {
        "content": [{"page": page, "limit": 1, "name": "one"}, {"page": page, "selector": ".x"}],
        "style": [{"page": page, "limit": 2}],
    }
    rows = run(sources)
    assert [(r["role"], r["name"]) for r in rows] == [
        ("content", "one-a"),
        ("content", "c"),
        ("style", "a"),
        ("style", "b"),
    ]
    assert server.counts["/g/index.html"] == 1
    assert server.counts["/g/a.png"] == server.counts["/g/b.png"] == server.counts["/g/c.png"] == 1


def test_an_image_reached_through_a_redirect_is_cached_under_both_urls(server, run, style_file):
    final = server.image("/files/real.png", png_bytes(63))
    short = server.redirect("/short", "/files/real.png")
    rows = run({"content": [short, style_file], "style": [final]})
    assert by_source(rows)[short]["final_url"] == final
    assert by_source(rows)[final]["sha256"] == by_source(rows)[short]["sha256"]
    assert server.counts["/short"] == server.counts["/files/real.png"] == 1
    urls = json.loads((run.cache / "urls.json").read_text())
    assert urls[short]["sha256"] == urls[final]["sha256"] and urls[final]["final_url"] == final


def test_a_rerun_with_a_remembered_failure_writes_the_same_manifest(server, run, style_file):
    """The manifest records the inputs: a rerun with nothing new writes the same bytes (issue 22).
    When a remembered failure will be requested again is said in the log and in failures.json."""
    gone = server.url("/gone.png")
    sources = {"content": [gone, style_file], "style": [style_file]}
    run(sources)
    manifest = run.manifest.read_bytes()
    written = run.manifest.stat().st_mtime_ns
    run.lines.clear()
    rows = run(sources)
    assert server.counts["/gone.png"] == 1
    assert run.manifest.read_bytes() == manifest
    assert run.manifest.stat().st_mtime_ns == written
    assert read_manifest(run.manifest)[0]["note"] == by_source(rows)[gone]["note"]
    entry = json.loads((run.cache / "failures.json").read_text())[gone]
    failed, retry = (datetime.fromisoformat(entry[key]) for key in ("failed", "retry_after"))
    assert retry == failed + timedelta(hours=24)
    assert [line for line in run.lines if "not requested again" in line] == [
        f"dataset:   {gone} failed at {entry['failed']}; not requested again before "
        f"{entry['retry_after']}, or sooner with `nst fetch --retry-failed`."
    ]
