"""The dataset section of real config files, read by `nst fetch`: one check from the shipped
schema, before any request or file. A bad config ends in one `nst: error:` line naming the key
and the value, exit status 2, no request to the (real, loopback) server and nothing written."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from dataset_run import FAST
from http_fixtures import png_bytes

from nst.cli.main import main
from nst.dataset import schema as config_schema
from nst.dataset.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The default cache of `nst fetch`, redirected so that a silently ignored key shows."""
    path = tmp_path / "default-cache"
    monkeypatch.setenv("NST_CACHE_DIR", str(path))
    return path


def fetch(tmp_path: Path, config: dict, capsys) -> tuple[int, list[str]]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    rc = main(["fetch", str(path), "--images-dir", str(tmp_path / "out")])
    return rc, capsys.readouterr().err.splitlines()


def assert_refused(tmp_path, rc, err, server, cache, *needles):
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("nst: error: "), err
    for needle in needles:
        assert needle in err[0], err[0]
    assert server.total == 0
    assert not (tmp_path / "out").exists() and not cache.exists()


def sources(server, style_file, *extra):
    good = server.image("/good.png", png_bytes(1))
    return {"content": [good, style_file, *extra], "style": [style_file]}


@pytest.mark.parametrize(
    ("bad", "key", "value"),
    [
        ({"url": "not a url"}, "dataset.sources.content[2].url", "'not a url'"),
        ({"url": "ftp://127.0.0.1/a.png"}, "dataset.sources.content[2].url", "'ftp://127.0.0.1"),
        ({"page": "example.org/gallery"}, "dataset.sources.content[2].page", "'example.org/"),
        ({"url": "http://[::1/broken.png"}, "dataset.sources.content[2].url", "'http://[::1/"),
        ("ftp://127.0.0.1/b.png", "dataset.sources.content[2]", "'ftp://127.0.0.1/b.png'"),
    ],
)
def test_malformed_source_is_refused_before_any_request(
    server, tmp_path, style_file, cache, capsys, bad, key, value
):
    config = {"dataset": {"sources": sources(server, style_file, bad), "http": FAST}}
    rc, err = fetch(tmp_path, config, capsys)
    assert_refused(tmp_path, rc, err, server, cache, key, value)


def test_unknown_dataset_key_is_refused_naming_it(server, tmp_path, style_file, cache, capsys):
    config = {
        "dataset": {
            "sources": sources(server, style_file),
            "http": FAST,
            "cache_dri": str(tmp_path / "typo-cache"),
        }
    }
    rc, err = fetch(tmp_path, config, capsys)
    assert_refused(tmp_path, rc, err, server, cache, "dataset.cache_dri", "cache_dir")
    assert not (tmp_path / "typo-cache").exists()


def test_unknown_key_of_a_bare_dataset_config_is_refused(server, tmp_path, style_file, capsys):
    config = {"sources": sources(server, style_file), "http": FAST, "stritc": True}
    rc, err = fetch(tmp_path, config, capsys)
    assert rc == 2 and len(err) == 1 and "unknown key stritc" in err[0]
    assert server.total == 0


@pytest.mark.parametrize(
    ("where", "value", "key", "wanted"),
    [
        ((), {"strict": "false"}, "dataset.strict = 'false'", "true or false"),
        (("http",), {"timeout": "3"}, "dataset.http.timeout = '3'", "a number"),
        (("http",), {"respect_robots": "no"}, "dataset.http.respect_robots = 'no'", "true or"),
        (("http",), {"retries": 1.5}, "dataset.http.retries = 1.5", "a whole number"),
        (("sources", "content", 0), {"limit": "2"}, "dataset.sources.content[0].limit", "whole"),
    ],
)
def test_wrong_types_are_refused_naming_the_key(
    server, tmp_path, style_file, cache, capsys, where, value, key, wanted
):
    page = server.html("/p.html", '<img src="good.png">')
    srcs = sources(server, style_file)
    srcs["content"][0] = {"page": page}
    config = {"dataset": {"sources": srcs, "http": dict(FAST)}}
    node = config["dataset"]
    for step in where:
        node = node[step]
    node.update(value)
    rc, err = fetch(tmp_path, config, capsys)
    assert_refused(tmp_path, rc, err, server, cache, key, wanted)


def test_schema_describes_every_key_nst_fetch_reads(server, tmp_path, style_file, cache, capsys):
    """The workflow's schema accepts the keys `nst fetch` reads, and `nst fetch` honours them."""
    dataset = {
        "sources": sources(server, style_file),
        "http": {**FAST, "deadline": 5},
        "images_dir": str(tmp_path / "images"),
        "manifest": str(tmp_path / "list.tsv"),
        "cache_dir": str(tmp_path / "cache"),
        "strict": False,
        "retry_failed_hours": 1.5,
    }
    assert config_schema.load_schema() == yaml.safe_load(SCHEMA.read_text())  # one schema
    schema = yaml.safe_load(SCHEMA.read_text())
    jsonschema.validate({"dataset": dataset, "params": {"a": {}}}, schema)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"dataset": dataset}))
    assert main(["fetch", str(path)]) == 0
    rows = read_manifest(tmp_path / "list.tsv")
    assert [r["file"] for r in rows if r["status"] == "ok"] == [
        "content/good.png",
        "content/style.png",
        "style/style.png",
    ]
    assert (tmp_path / "images" / "content" / "good.png").read_bytes() == png_bytes(1)
    assert (tmp_path / "cache" / "urls.json").is_file() and not cache.exists()
