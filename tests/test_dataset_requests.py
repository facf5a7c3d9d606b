"""What a fetch asks of a (real, loopback) server, and for how long: the deadline of one
download, remembered failures, and one request per page and per image however it is reached."""

from __future__ import annotations

import time

from dataset_run import by_source
from http_fixtures import Reply, png_bytes


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
