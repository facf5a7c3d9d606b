"""The dataset layer against a real HTTP server on 127.0.0.1; decoding and cache are not mocked."""

from __future__ import annotations

import argparse
import io
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from dataset_run import FAST, by_source, sha
from http_fixtures import Reply, jpeg_bytes, png_bomb, png_bytes
from PIL import Image

from nst.cli import dataset as dataset_cli
from nst.dataset.fetcher import Fetcher, HttpSettings, retry_after_seconds
from nst.dataset.manifest import MANIFEST_COLUMNS, read_manifest
from nst.dataset.names import name_from_url, safe_name
from nst.dataset.prepare import prepare_image
from nst.dataset.run import fetch_dataset
from nst.dataset.scrape import largest_srcset_candidate, parse_page
from nst.dataset.sources import parse_sources
from nst.errors import DownloadError, ImageError, SettingsError
from nst.images.inspect import inspect_image

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "resources" / "images"


def cached_blobs(cache: Path) -> list[Path]:
    return sorted((cache / "objects").rglob("*.*"))


# ------------------------------------------------------------------------------------------------
# Gallery pages

GALLERY = """<!doctype html><html><head>
<title>Gallery</title>
<meta property="og:image" content="/never.png">
<link rel="license" href="https://creativecommons.org/publicdomain/zero/1.0/">
</head><body>
<div class="gallery">
  <img src="img/a.png" alt="relative link">
  <img src="/static/placeholder.gif" data-src="../gallery/img/b.png" alt="lazy">
  <img src="img/c-small.png"
       srcset="img/c-small.png 200w, img/c-large.png 800w, img/c-mid.png 400w">
  <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="inline, skipped">
</div>
<img src="/static/logo.png" alt="outside the gallery">
<a class="next" href="page2.html">next</a>
</body></html>"""

PAGE2 = """<html><body><div class="gallery">
<img src="img/d.png"><img src="img/e.png">
</div><a class="next" href="index.html">back to start (a loop)</a></body></html>"""


def serve_gallery(server):
    for i, name in enumerate(["a", "b", "c-large", "d", "e"]):
        server.image(f"/gallery/img/{name}.png", png_bytes(i))
    server.html("/gallery/index.html", GALLERY)
    server.html("/gallery/page2.html", PAGE2)
    return server.url("/gallery/index.html")


def test_gallery_page_relative_lazy_srcset_and_pagination(server, run, style_file):
    page = serve_gallery(server)
    spec = {"page": page, "selector": ".gallery img", "next": "a.next", "max_pages": 3}
    rows = run({"content": [spec], "style": [style_file]})

    content = [r for r in rows if r["role"] == "content"]
    assert [r["name"] for r in content] == ["a", "b", "c-large", "d", "e"]
    assert all(r["status"] == "ok" for r in content)
    assert content[1]["source"] == server.url("/gallery/img/b.png")
    assert content[3]["page_url"] == server.url("/gallery/page2.html")
    assert content[0]["page_url"] == page
    assert content[0]["license"] == "https://creativecommons.org/publicdomain/zero/1.0/"
    for i, row in enumerate(content):
        data = png_bytes(i)
        assert row["sha256"] == sha(data)
        assert (run.images / row["file"]).read_bytes() == data
        assert (row["width"], row["height"]) == (64, 48)
    # The placeholder, the smaller srcset candidates and images outside the selector are never
    # requested; the pagination loop back to index.html is not followed twice.
    for path in ("/static/placeholder.gif", "/gallery/img/c-small.png", "/static/logo.png"):
        assert server.counts[path] == 0
    assert server.counts["/gallery/index.html"] == 1
    assert server.counts["/gallery/page2.html"] == 1


def test_page_limit_stops_pagination(server, run, style_file):
    page = serve_gallery(server)
    spec = {"page": page, "selector": ".gallery img", "next": "a.next", "limit": 2, "name": "g"}
    rows = run({"content": [spec], "style": [style_file]})
    assert [r["name"] for r in rows if r["role"] == "content"] == ["g-a", "g-b"]
    assert server.counts["/gallery/page2.html"] == 0
    assert server.counts["/gallery/img/c-large.png"] == 0


def test_failing_later_page_keeps_earlier_images_and_is_remembered(server, run, style_file):
    page = serve_gallery(server)
    del server.routes["/gallery/page2.html"]
    spec = {"page": page, "selector": ".gallery img", "next": "a.next"}
    rows = run({"content": [spec], "style": [style_file]})
    assert [r["name"] for r in rows if r["role"] == "content"] == ["a", "b", "c-large"]
    assert any("pagination stopped" in line and "HTTP 404" in line for line in run.lines)
    # The failed page is remembered, so the partial scrape serves the rerun: no request.
    assert [r["name"] for r in run({"content": [spec], "style": [style_file]})][:3] == [
        "a",
        "b",
        "c-large",
    ]
    assert any(
        line.endswith(
            "(pagination stopped at "
            + server.url("/gallery/page2.html")
            + ", a remembered failure)"
        )
        for line in run.lines
    )
    assert server.counts["/gallery/index.html"] == server.counts["/gallery/page2.html"] == 1
    # Retrying the failures reads the pages again (and the images come from the cache).
    server.html("/gallery/page2.html", PAGE2)
    rows = run({"content": [spec], "style": [style_file]}, retry_failed=True)
    assert [r["name"] for r in rows if r["role"] == "content"] == ["a", "b", "c-large", "d", "e"]
    assert server.counts["/gallery/index.html"] == server.counts["/gallery/page2.html"] == 2
    assert server.counts["/gallery/img/a.png"] == 1


def test_page_explicit_attribute_and_og_image_fallback(server, run, style_file):
    server.image("/art/og.jpg", jpeg_bytes(5))
    server.html(
        "/art/item.html",
        '<html><head><meta property="og:image" content="og.jpg">'
        '<meta name="DC.rights" content="Public domain"></head>'
        "<body><p>no images</p></body></html>",
    )
    server.image("/art/full.png", png_bytes(6))
    server.html(
        "/art/links.html",
        '<html><body><a class="dl" href="full.png">full size</a>'
        '<a href="other.html">text</a></body></html>',
    )
    rows = run(
        {
            "content": [
                {"page": server.url("/art/item.html")},
                {"page": server.url("/art/links.html"), "selector": "a.dl", "attribute": "href"},
            ],
            "style": [style_file],
        }
    )
    og, linked = (r for r in rows if r["role"] == "content")
    assert og["source"] == server.url("/art/og.jpg")
    assert og["format"] == "JPEG" and og["file"] == "content/og.jpg"
    assert og["license"] == "Public domain"
    assert linked["file"] == "content/full.png" and linked["status"] == "ok"
    assert server.counts["/art/other.html"] == 0


def test_page_without_images_fails_that_source_only(server, run, style_file):
    server.html("/empty.html", "<html><body><p>nothing here</p></body></html>")
    server.image("/ok.png", png_bytes(1))
    rows = run(
        {
            "content": [{"page": server.url("/empty.html")}, server.url("/ok.png")],
            "style": [style_file],
        }
    )
    failed, ok = (r for r in rows if r["role"] == "content")
    assert failed["status"] == "failed" and "no image matching" in failed["note"]
    assert failed["page_url"] == server.url("/empty.html")
    assert ok["status"] == "ok"


def test_page_license_by_selector_and_rel_license_is_recorded(server, run, style_file):
    for i, name in enumerate("abc"):
        server.image(f"/lic/{name}.png", png_bytes(70 + i))
    stated = '<img src="{}.png"><p class="license">CC BY 4.0,\n Jane Doe</p>'
    linked = '<a rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/">CC BY-SA</a>'
    server.html("/lic/stated.html", stated.format("a"))
    server.html("/lic/linked.html", '<img src="b.png"><footer>' + linked + "</footer>")
    server.html("/lic/both.html", stated.format("c") + linked)
    run(
        {
            "content": [
                {"page": server.url("/lic/stated.html"), "license_selector": "p.license"},
                {"page": server.url("/lic/linked.html"), "license_selector": "p.license"},
                {"page": server.url("/lic/both.html"), "license": "own words"},
            ],
            "style": [style_file],
        }
    )
    assert [r["license"] for r in read_manifest(run.manifest)] == [
        "CC BY 4.0, Jane Doe",
        "CC BY-SA <https://creativecommons.org/licenses/by-sa/4.0/>",  # the selector found none
        "own words",  # the config's licence wins
        "",
    ]
    with pytest.raises(SettingsError, match=r"content\[0\]\.license_selector 'p\[' is not"):
        parse_sources(
            {"content": [{"page": "http://x/", "license_selector": "p["}], "style": ["b"]}
        )


def test_parse_page_resolves_base_href_and_wikimedia_license():
    html = b"""<html><head><base href="https://upload.example.org/files/"></head><body>
    <img srcset="thumb/a.jpg 1x, full/a.jpg 2x">
    <span class="licensetpl_short">CC BY-SA 4.0</span>
    <span class="licensetpl_attr">Jane Doe</span></body></html>"""
    images, next_url = parse_page(html, "https://commons.example.org/wiki/File:A.jpg")
    assert [i.url for i in images] == ["https://upload.example.org/files/full/a.jpg"]
    assert images[0].license == "CC BY-SA 4.0; attribution: Jane Doe"
    assert next_url is None


def test_srcset_largest_candidate():
    assert largest_srcset_candidate("a.jpg 1x, b.jpg 3x, c.jpg 2x") == "b.jpg"
    assert largest_srcset_candidate("s.jpg 320w,l.jpg 1280w, m.jpg 640w") == "l.jpg"
    # Commas inside URLs (image CDNs) belong to the URL; a bare URL counts as 1x.
    srcset = "https://cdn.test/w_300,h_200/x.jpg 300w, https://cdn.test/w_900,h_600/x.jpg 900w"
    assert largest_srcset_candidate(srcset) == "https://cdn.test/w_900,h_600/x.jpg"
    assert largest_srcset_candidate("only.jpg") == "only.jpg"
    assert largest_srcset_candidate("  ") is None


# ------------------------------------------------------------------------------------------------
# Direct URLs, redirects and HTTP errors


def test_direct_url_writes_image_cache_and_manifest(server, run, style_file):
    data = jpeg_bytes(1)
    url = server.image("/photos/Night%20Cafe.jpg", data, "image/jpeg")
    rows = run({"content": [{"url": url, "license": "CC0"}], "style": [style_file]})

    row = by_source(rows)[url]
    assert row["name"] == "Night-Cafe"
    assert row["file"] == "content/Night-Cafe.jpg"
    assert row["sha256"] == sha(data) and row["bytes"] == len(data)
    assert (row["width"], row["height"], row["format"]) == (80, 60, "JPEG")
    assert row["final_url"] == url and row["license"] == "CC0" and row["kind"] == "url"
    assert datetime.fromisoformat(row["fetched"]).tzinfo is not None
    assert (run.images / "content" / "Night-Cafe.jpg").read_bytes() == data
    assert [p.name for p in cached_blobs(run.cache)] == [f"{sha(data)}.jpg"]
    assert read_manifest(run.manifest) == rows
    header = run.manifest.read_text().splitlines()[0]
    assert header.split("\t") == list(MANIFEST_COLUMNS)

    ua = server.request_headers["/photos/Night%20Cafe.jpg"][0]["User-Agent"]
    assert ua.startswith("nst/") and "tests@example.org" in ua
    assert server.counts == {"/robots.txt": 1, "/photos/Night%20Cafe.jpg": 1}


def test_redirect_is_followed_and_final_url_recorded(server, run, style_file):
    data = png_bytes(2)
    final = server.image("/files/real.png", data)
    server.redirect("/old/start.png", "/moved/start.png", 301)
    server.redirect("/moved/start.png", "../files/real.png", 302)
    rows = run({"content": [server.url("/old/start.png")], "style": [style_file]})
    row = by_source(rows)[server.url("/old/start.png")]
    assert row["status"] == "ok" and row["final_url"] == final and row["name"] == "start"
    assert (run.images / row["file"]).read_bytes() == data
    assert server.counts["/old/start.png"] == server.counts["/files/real.png"] == 1


def test_redirect_limit_and_scheme_checks(server, run, style_file):
    server.redirect("/loop/a.png", "/loop/b.png")
    server.redirect("/loop/b.png", "/loop/a.png")
    server.redirect("/to-ftp.png", "ftp://127.0.0.1/file.png")
    rows = run(
        {
            "content": [server.url("/loop/a.png"), server.url("/to-ftp.png"), style_file],
            "style": [style_file],
        },
        http={"max_redirects": 3},
    )
    loop, to_ftp, _ = (r for r in rows if r["role"] == "content")
    assert loop["status"] == "failed" and "redirected more than 3 times" in loop["note"]
    assert server.counts["/loop/a.png"] + server.counts["/loop/b.png"] == 4
    assert "only http:// and https://" in to_ftp["note"]


def test_404_fails_without_retry_and_others_survive(server, run, style_file):
    ok = server.image("/ok.png", png_bytes(3))
    rows = run({"content": [server.url("/missing.png"), ok], "style": [style_file]})
    missing = by_source(rows)[server.url("/missing.png")]
    assert missing["status"] == "failed" and "HTTP 404" in missing["note"]
    assert server.counts["/missing.png"] == 1
    assert by_source(rows)[ok]["status"] == "ok"
    assert read_manifest(run.manifest)[0]["note"] == missing["note"]
    assert any("FAILED" in line and "404" in line for line in run.lines)


def test_503_then_success_is_retried_once(server, run, style_file):
    data = png_bytes(4)
    url = server.add("/flaky.png", Reply(503, b"busy", "text/plain"), Reply(200, data, "image/png"))
    rows = run({"content": [url], "style": [style_file]})
    assert by_source(rows)[url]["status"] == "ok"
    assert server.counts["/flaky.png"] == 2


def test_5xx_gives_up_after_retries(server, run, style_file):
    url = server.add("/down.png", Reply(502, b"bad gateway", "text/plain"))
    rows = run({"content": [url, style_file], "style": [style_file]}, http={"retries": 2})
    assert "failed after 3 attempt(s): HTTP 502" in by_source(rows)[url]["note"]
    assert server.counts["/down.png"] == 3


def test_429_waits_as_long_as_retry_after_says(server, run, style_file):
    data = png_bytes(5)
    url = server.add(
        "/limited.png",
        Reply(429, b"slow down", "text/plain", {"Retry-After": "1"}),
        Reply(200, data, "image/png"),
    )
    start = time.monotonic()
    rows = run({"content": [url], "style": [style_file]})
    elapsed = time.monotonic() - start
    assert by_source(rows)[url]["status"] == "ok"
    assert server.counts["/limited.png"] == 2
    assert elapsed >= 1.0


def test_retry_after_is_capped_by_max_wait(server, run, style_file):
    url = server.add(
        "/capped.png",
        Reply(503, b"", "text/plain", {"Retry-After": "3600"}),
        Reply(200, png_bytes(6), "image/png"),
    )
    start = time.monotonic()
    rows = run({"content": [url], "style": [style_file]}, http={"max_wait": 0.2})
    assert by_source(rows)[url]["status"] == "ok"
    assert 0.2 <= time.monotonic() - start < 2


def test_retry_after_formats():
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_slow_response_hits_the_timeout(server, run, style_file):
    url = server.add("/slow.png", Reply(200, png_bytes(7), "image/png", delay=1.5))
    start = time.monotonic()
    rows = run(
        {"content": [url, style_file], "style": [style_file]},
        http={"timeout": 0.2, "retries": 1},
    )
    elapsed = time.monotonic() - start
    row = by_source(rows)[url]
    assert row["status"] == "failed" and "0.2 s timeout" in row["note"]
    assert server.counts["/slow.png"] == 2
    assert elapsed < 1.5


def test_per_host_delay_spaces_requests(server, run, style_file):
    urls = [server.image(f"/d{i}.png", png_bytes(20 + i)) for i in range(3)]
    start = time.monotonic()
    run({"content": urls, "style": [style_file]}, http={"delay": 0.15})
    # robots.txt + 3 images = 4 requests, so at least 3 gaps of 0.15 s.
    assert time.monotonic() - start >= 0.45
    assert server.total == 4


# ------------------------------------------------------------------------------------------------
# Verification of what was downloaded


def test_html_served_as_jpeg_is_rejected_and_not_cached(server, run, style_file):
    html = b"<!DOCTYPE html><html><body><h1>Error 500</h1></body></html>"
    url = server.add("/fake.jpg", Reply(200, html, "image/jpeg"))
    rows = run({"content": [url, style_file], "style": [style_file]})
    row = by_source(rows)[url]
    assert row["status"] == "failed"
    assert "not an image Pillow can decode (it looks like an HTML page)" in row["note"]
    assert not list((run.images / "content").glob("fake*"))
    assert (
        not (run.cache / "urls.json").exists() or url not in (run.cache / "urls.json").read_text()
    )


def test_truncated_jpeg_is_rejected(server, run, style_file):
    data = jpeg_bytes(8, size=(200, 150))
    url = server.add("/cut.jpg", Reply(200, data[: len(data) // 2], "image/jpeg"))
    rows = run({"content": [url, style_file], "style": [style_file]})
    assert "truncated or corrupt" in by_source(rows)[url]["note"]
    assert cached_blobs(run.cache) == []


@pytest.mark.parametrize("side", [12_000, 30_000])
def test_pixel_bomb_is_rejected_before_decoding(server, run, style_file, side):
    bomb = png_bomb(side)
    assert len(bomb) < 200_000
    url = server.add("/bomb.png", Reply(200, bomb, "image/png"))
    rows = run({"content": [url, style_file], "style": [style_file]})
    assert "pixel limit" in by_source(rows)[url]["note"]


def test_max_pixels_and_min_side(server, run, style_file):
    big = server.image("/big.png", png_bytes(9, size=(200, 100)))
    icon = server.image("/icon.png", png_bytes(10, size=(16, 16)))
    rows = run(
        {"content": [big, icon, style_file], "style": [style_file]},
        http={"max_pixels": 10_000},
    )
    assert "200x100 pixels, more than the pixel limit of 10000" in by_source(rows)[big]["note"]
    assert "only 16x16 pixels" in by_source(rows)[icon]["note"]


def test_max_bytes_by_content_length_and_while_streaming(server, run, style_file):
    data = png_bytes(11, size=(100, 100))
    declared = server.image("/declared.png", data)
    streamed = server.add("/streamed.png", Reply(200, data, "image/png", send_length=False))
    rows = run(
        {"content": [declared, streamed, style_file], "style": [style_file]},
        http={"max_bytes": 1000},
    )
    assert (
        f"is {len(data)} bytes, more than http.max_bytes = 1000"
        in by_source(rows)[declared]["note"]
    )
    assert "sent more than http.max_bytes = 1000 bytes" in by_source(rows)[streamed]["note"]


# ------------------------------------------------------------------------------------------------
# robots.txt


def test_robots_txt_disallow_is_honoured(server, run, style_file):
    server.add(
        "/robots.txt",
        Reply(200, b"User-agent: *\nDisallow: /private/\n", "text/plain"),
    )
    secret = server.image("/private/secret.png", png_bytes(12))
    public = server.image("/public/open.png", png_bytes(13))
    rows = run({"content": [secret, public], "style": [style_file]})
    assert "robots.txt of" in by_source(rows)[secret]["note"]
    assert by_source(rows)[public]["status"] == "ok"
    assert server.counts["/private/secret.png"] == 0
    assert server.counts["/robots.txt"] == 1

    rows = run({"content": [secret], "style": [style_file]}, http={"respect_robots": False})
    assert by_source(rows)[secret]["status"] == "ok"
    assert server.counts["/private/secret.png"] == 1
    assert server.counts["/robots.txt"] == 1


def test_robots_txt_server_error_disallows_host(server, run, style_file):
    server.add("/robots.txt", Reply(500, b"oops", "text/plain"))
    url = server.image("/img.png", png_bytes(14))
    rows = run({"content": [url, style_file], "style": [style_file]}, http={"retries": 0})
    note = by_source(rows)[url]["note"]
    assert note.startswith(f"robots.txt of {server.url('')} could not be fetched (")
    assert "HTTP 500" in note and "disallows the whole site" in note
    assert server.counts["/img.png"] == 0


def test_robots_crawl_delay_is_applied(server):
    server.add("/robots.txt", Reply(200, b"User-agent: nst\nCrawl-delay: 1\n", "text/plain"))
    server.image("/x.png", png_bytes(15))
    fetcher = Fetcher(HttpSettings.from_dict(FAST), log=lambda line: None)
    start = time.monotonic()
    fetcher.get(server.url("/x.png"))
    assert time.monotonic() - start >= 1.0
    assert fetcher.requests_made == 2


# ------------------------------------------------------------------------------------------------
# Cache, deduplication and reruns


def test_same_image_under_two_urls_is_stored_once(server, run, style_file):
    data = png_bytes(16)
    first = server.image("/mirror-a/sunflowers.png", data)
    second = server.image("/mirror-b/sunflowers-copy.png", data)
    rows = run({"content": [first, second], "style": [style_file]})
    a, b = by_source(rows)[first], by_source(rows)[second]
    assert a["status"] == "ok" and b["status"] == "duplicate"
    assert b["note"] == "same image as content/sunflowers" and b["sha256"] == a["sha256"]
    assert sorted(p.name for p in (run.images / "content").iterdir()) == ["sunflowers.png"]
    assert [p.name for p in cached_blobs(run.cache)] == [f"{sha(data)}.png"]


def test_a_redirect_onto_a_cached_url_keeps_that_urls_record(tmp_path):
    """A style URL redirecting to a content image fetched a second earlier must not rewrite the
    content's record: the rerun's manifest reads it back (a flaky rerun test found this)."""
    from nst.dataset.cache import ImageCache

    cache = ImageCache(tmp_path, log=lambda _m: None)
    data = png_bytes(5)
    cache.store(["http://h/a.png"], data, "png", fetched="2026-01-01T00:00:00+00:00")
    cache.store(
        ["http://h/redirect", "http://h/a.png"], data, "png", fetched="2026-01-01T00:00:01+00:00"
    )
    again = ImageCache(tmp_path, log=lambda _m: None)  # what the rerun reads
    assert again.lookup("http://h/a.png")[0]["fetched"] == "2026-01-01T00:00:00+00:00"
    assert again.lookup("http://h/redirect")[0]["fetched"] == "2026-01-01T00:00:01+00:00"
    # the URL asked for is always recorded anew (a refresh), and other bytes replace a record
    cache.store(["http://h/a.png"], data, "png", fetched="2026-01-02T00:00:00+00:00")
    assert cache.lookup("http://h/a.png")[0]["fetched"] == "2026-01-02T00:00:00+00:00"
    other = png_bytes(6)
    cache.store(
        ["http://h/r2", "http://h/a.png"], other, "png", fetched="2026-01-03T00:00:00+00:00"
    )
    assert cache.lookup("http://h/a.png")[1] == other


def test_rerun_makes_zero_requests(server, run, style_file):
    page = serve_gallery(server)
    direct = server.image("/direct.jpg", jpeg_bytes(17), "image/jpeg")
    server.redirect("/redirected.png", "/gallery/img/a.png")
    sources = {
        "content": [
            {"page": page, "selector": ".gallery img", "next": "a.next"},
            {"url": direct, "name": "direct"},
        ],
        "style": [server.url("/redirected.png"), style_file],
    }
    first = run(sources)
    requests_first = server.total
    manifest = run.manifest.read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in run.images.rglob("*.*")}

    second = run(sources)
    assert server.total == requests_first
    assert second == first
    assert run.manifest.read_bytes() == manifest
    assert {p: p.stat().st_mtime_ns for p in run.images.rglob("*.*")} == mtimes
    assert run.lines[-1].endswith(f"0 HTTP request(s); manifest {run.manifest}")

    # A damaged cached blob is detected by its hash and downloaded again.
    blob = run.cache / "objects" / sha(jpeg_bytes(17))[:2] / f"{sha(jpeg_bytes(17))}.jpg"
    blob.write_bytes(b"garbage")
    run(sources)
    assert server.counts["/direct.jpg"] == 2
    assert blob.read_bytes() == jpeg_bytes(17)
    assert server.total == requests_first + 2  # robots.txt again (new run) + the image


def test_refresh_rescrapes_pages_but_not_images(server, run, style_file):
    page = serve_gallery(server)
    sources = {"content": [{"page": page, "selector": ".gallery img"}], "style": [style_file]}
    run(sources)
    run(sources, refresh=True)
    assert server.counts["/gallery/index.html"] == 2
    assert server.counts["/gallery/img/a.png"] == 1


def test_stale_outputs_of_a_previous_run_are_removed(server, run, style_file):
    a = server.image("/a.png", png_bytes(18))
    b = server.image("/b.png", png_bytes(19))
    run({"content": [a, b], "style": [style_file]})
    assert (run.images / "content" / "b.png").exists()
    run({"content": [a], "style": [style_file]})
    assert sorted(p.name for p in (run.images / "content").iterdir()) == ["a.png"]


# ------------------------------------------------------------------------------------------------
# Failures, strictness and names


def test_empty_role_raises_after_writing_manifest(server, run, style_file):
    with pytest.raises(DownloadError, match=r"^no content image could be obtained \(first reason"):
        run({"content": [server.url("/gone.png")], "style": [style_file]})
    rows = read_manifest(run.manifest)
    assert [r["status"] for r in rows] == ["failed", "ok"]


def test_strict_fails_on_any_failure(server, run, style_file):
    ok = server.image("/fine.png", png_bytes(21))
    sources = {"content": [ok, server.url("/gone.png")], "style": [style_file]}
    with pytest.raises(DownloadError, match="strict is set"):
        run(sources, strict=True)
    assert len(run(sources)) == 3


def test_names_are_safe_stable_and_unique_within_a_role(server, run, style_file):
    first = server.image("/x/Starry_Night.png", png_bytes(22))
    second = server.image("/y/Starry_Night.png", png_bytes(23))
    named = server.image("/z/whatever.png", png_bytes(24))
    rows = run(
        {
            "content": [first, second, {"url": named, "name": "Starry_Night-b"}],
            "style": [first],
        }
    )
    names = [r["name"] for r in rows]
    assert names == [
        "Starry_Night",
        f"Starry_Night-{sha(png_bytes(23))[:8]}",
        "Starry_Night-b",
        "Starry_Night",
    ]
    assert name_from_url("https://upload.wikimedia.org/a/ab/800px-Caf%C3%A9_Terrace.jpg/") == (
        "Cafe_Terrace"
    )
    assert name_from_url("https://example.org/") == "example.org"
    assert safe_name("../../etc/passwd") == "etc-passwd"


def test_local_paths_directory_and_mask(tmp_path, run):
    image = tmp_path / "photo.png"
    image.write_bytes(png_bytes(25, size=(80, 40)))
    mask = tmp_path / "photo-mask.png"
    Image.new("L", (160, 80), 255).save(mask)
    other = tmp_path / "other.png"
    other.write_bytes(png_bytes(32, size=(80, 40)))
    bad_mask = tmp_path / "square-mask.png"
    Image.new("L", (50, 50), 255).save(bad_mask)
    rows = run(
        {
            "content": [
                {"path": str(image), "name": "photo", "mask": str(mask), "license": "own work"},
                {"path": str(other), "name": "other", "mask": str(bad_mask)},
                {"path": str(tmp_path / "nope.png")},
            ],
            "style": [{"path": str(EMBEDDED / "style"), "limit": 2, "name": "default"}],
        }
    )
    photo, again, nope, *styles = rows
    assert photo["file"] == "content/photo.png" and photo["mask"] == "masks/content/photo.png"
    assert (run.images / photo["mask"]).read_bytes() == mask.read_bytes()
    assert photo["source"] == str(image) and photo["kind"] == "path"
    assert again["status"] == "failed" and "mask" in again["note"] and "50x50" in again["note"]
    assert nope["status"] == "failed" and "does not exist" in nope["note"]
    assert [r["name"] for r in styles] == ["default-brushstrokes", "default-hubble"]


def test_path_source_pointing_at_the_output_is_left_in_place(tmp_path):
    images = tmp_path / "images"
    (images / "content").mkdir(parents=True)
    (images / "style").mkdir()
    content, style = images / "content" / "cat.png", images / "style" / "paint.png"
    content.write_bytes(png_bytes(26))
    style.write_bytes(png_bytes(27))
    sources = {"content": [str(images / "content")], "style": [str(images / "style")]}
    for _ in range(2):
        rows = fetch_dataset(
            sources, images, images / "manifest.tsv", cache_dir=tmp_path / "c", log=lambda s: None
        )
    assert [r["file"] for r in rows] == ["content/cat.png", "style/paint.png"]
    assert content.read_bytes() == png_bytes(26)


def test_embedded_default_dataset(tmp_path):
    rows = fetch_dataset(
        {"content": [str(EMBEDDED / "content")], "style": [str(EMBEDDED / "style")]},
        tmp_path / "images",
        tmp_path / "manifest.tsv",
        cache_dir=tmp_path / "cache",
        log=lambda s: None,
    )
    content = [r for r in rows if r["role"] == "content"]
    style = [r for r in rows if r["role"] == "style"]
    assert len(content) >= 2 and len(style) >= 3
    assert all(r["status"] == "ok" for r in rows)
    assert all(max(r["width"], r["height"]) <= 384 for r in rows)
    assert sum(r["bytes"] for r in rows) < 1_500_000
    attribution = (REPO / "resources" / "ATTRIBUTION.md").read_text()
    for path in sorted(EMBEDDED.glob("*/*")):
        assert f"images/{path.parent.name}/{path.name}" in attribution


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ({"content": ["a.png"]}, "sources.style must be a non-empty list"),
        ({"content": ["a.png"], "style": ["b.png"], "extra": []}, "unknown source role"),
        (
            {"content": [{"url": "http://x/a.png", "page": "http://x"}], "style": ["b"]},
            "exactly one",
        ),
        (
            {"content": [{"url": "http://x/a.png", "selector": "img"}], "style": ["b"]},
            "does not take",
        ),
        ({"content": [{"url": "http://x/a.png", "name": "../a"}], "style": ["b"]}, "not a safe"),
        ({"content": [{"page": "http://x", "selector": "img[["}], "style": ["b"]}, "valid CSS"),
        ({"content": [{"page": "http://x", "limit": 0}], "style": ["b"]}, "at least 1"),
        (
            {"content": [{"url": "ftp://127.0.0.1/x.png"}], "style": ["b"]},
            r"^sources.content\[0\].url = 'ftp://127.0.0.1/x.png' is not an http\(s\) URL",
        ),
        ({"content": [{"url": "file:///etc/passwd"}], "style": ["b"]}, "not an http"),
        ({"content": [{"url": "http://[::1/broken.png"}], "style": ["b"]}, "not a valid URL"),
        ({"content": ["a"], "style": [{"path": "b", "mask": "ftp://x/m"}]}, r"style\[0\]\.mask"),
        (
            {
                "content": [{"url": "http://x/a", "name": "A"}, {"url": "http://x/b", "name": "a"}],
                "style": ["b"],
            },
            "used twice",
        ),
    ],
)
def test_config_errors_are_one_sentence(sources, message):
    with pytest.raises(SettingsError, match=message) as info:
        parse_sources(sources)
    assert str(info.value).endswith(".") and "\n" not in str(info.value)


def test_http_settings_are_validated():
    with pytest.raises(SettingsError, match="unknown http setting"):
        HttpSettings.from_dict({"timeot": 3})
    with pytest.raises(SettingsError, match="http.retries"):
        HttpSettings.from_dict({"retries": -1})
    with pytest.raises(SettingsError, match="respect_robots"):
        HttpSettings.from_dict({"respect_robots": "no"})
    assert HttpSettings.from_dict({"user_agent": "mybot/1.0"}).agent == "mybot/1.0"


# ------------------------------------------------------------------------------------------------
# Command line


def make_cli():
    parser = argparse.ArgumentParser(prog="nst")
    subparsers = parser.add_subparsers()
    dataset_cli.add_commands(subparsers)
    return parser


def test_fetch_command(server, tmp_path, style_file):
    url = server.image("/cli.png", png_bytes(28))
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "dataset": {
                    "sources": {"content": [url], "style": [style_file]},
                    "http": FAST,
                    "cache_dir": str(tmp_path / "cache"),
                }
            }
        )
    )
    args = make_cli().parse_args(["fetch", str(config), "--images-dir", str(tmp_path / "out")])
    assert args.func(args) == 0
    rows = read_manifest(tmp_path / "out" / "manifest.tsv")
    assert [r["file"] for r in rows] == ["content/cli.png", "style/style.png"]


def test_prepare_command(tmp_path, capsys):
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(29, size=(100, 50)))
    args = make_cli().parse_args(["prepare", str(src), str(tmp_path / "out.png"), "--size", "40"])
    assert args.func(args) == 0
    assert Image.open(tmp_path / "out.png").size == (40, 20)
    assert "40x20" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# prepare_image


def exif_rotated_jpeg(path: Path) -> None:
    """Stored 64x32 with the left half red; EXIF orientation 6 shows it rotated 90° clockwise,
    i.e. 32x64 with red on top."""
    arr = np.zeros((32, 64, 3), np.uint8)
    arr[:, :32] = (255, 0, 0)
    arr[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(arr).save(path, "JPEG", quality=95, exif=exif.tobytes())


def test_prepare_applies_exif_orientation_and_shrinks(tmp_path):
    src = tmp_path / "rotated.jpg"
    exif_rotated_jpeg(src)
    shape = prepare_image(src, tmp_path / "out.png", 48)
    assert shape == {"width": 24, "height": 48}
    out = Image.open(tmp_path / "out.png")
    assert out.format == "PNG" and out.mode == "RGB" and out.size == (24, 48)
    top, bottom = np.asarray(out)[5, 12], np.asarray(out)[42, 12]
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_prepare_never_upscales_and_flattens_rgba(tmp_path):
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 1] = 255
    rgba[:, 25:, 3] = 255  # left half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert prepare_image(tmp_path / "a.png", tmp_path / "b.png", 512) == {"width": 50, "height": 40}
    out = np.asarray(Image.open(tmp_path / "b.png"))
    assert out.shape == (40, 50, 3)
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[0, 40]) == (0, 255, 0)


def test_prepare_16_bit(tmp_path):
    arr = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))
    Image.fromarray(arr).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    prepare_image(tmp_path / "deep.png", tmp_path / "out.png", 64)
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255


def test_prepare_mask_drawn_on_stored_pixels_is_rotated_with_the_image(tmp_path):
    src = tmp_path / "rotated.jpg"
    exif_rotated_jpeg(src)
    mask = np.zeros((32, 64), np.uint8)
    mask[:, :32] = 255  # selects the red half, on the stored (unrotated) grid
    Image.fromarray(mask).save(tmp_path / "mask.png")
    prepare_image(
        src, tmp_path / "o.png", 48, mask_src=tmp_path / "mask.png", mask_dst=tmp_path / "m.png"
    )
    out_mask = Image.open(tmp_path / "m.png")
    assert out_mask.mode == "L" and out_mask.size == (24, 48)
    m = np.asarray(out_mask)
    assert m[5, 12] == 255 and m[42, 12] == 0


def test_prepare_mask_drawn_upright_is_resized_to_match(tmp_path):
    src = tmp_path / "rotated.jpg"
    exif_rotated_jpeg(src)
    upright = np.zeros((128, 64, 4), np.uint8)
    upright[64:, :, 3] = 255  # opaque bottom half = selected; transparent top = unselected
    upright[..., :3] = 255
    Image.fromarray(upright, "RGBA").save(tmp_path / "mask.png")
    prepare_image(
        src, tmp_path / "o.png", 48, mask_src=tmp_path / "mask.png", mask_dst=tmp_path / "m.png"
    )
    m = np.asarray(Image.open(tmp_path / "m.png"))
    assert m.shape == (48, 24) and m[5, 12] == 0 and m[42, 12] == 255


def test_prepare_errors(tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(30, size=(64, 32)))
    Image.new("L", (50, 50)).save(tmp_path / "square.png")
    with pytest.raises(ImageError, match="must have the image's shape"):
        prepare_image(
            src,
            tmp_path / "o.png",
            64,
            mask_src=tmp_path / "square.png",
            mask_dst=tmp_path / "m.png",
        )
    assert not (tmp_path / "o.png").exists()
    with pytest.raises(SettingsError, match=r"must be a \.png file"):
        prepare_image(src, tmp_path / "o.jpg", 64)
    with pytest.raises(SettingsError, match="at least 32"):
        prepare_image(src, tmp_path / "o.png", 8)
    with pytest.raises(SettingsError, match="both mask_src and mask_dst"):
        prepare_image(src, tmp_path / "o.png", 64, mask_src=tmp_path / "square.png")
    (tmp_path / "broken.png").write_bytes(png_bytes(31)[:100])
    with pytest.raises(ImageError):
        prepare_image(tmp_path / "broken.png", tmp_path / "o.png", 64)


def test_inspect_image_reads_from_memory_only():
    data = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(data, "WEBP")
    info = inspect_image(data.getvalue(), what="x", max_pixels=10_000)
    assert (info.format, info.ext, info.width, info.height) == ("WEBP", "webp", 40, 40)
