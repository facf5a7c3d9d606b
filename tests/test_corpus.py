"""The GCompris corpus: Qt resource bundles written here byte by byte, README credits, jigsaw
assembly, and whole builds from a small fake package (no network, no real .deb)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst.dataset.corpus import (
    COLUMNS,
    HELDOUT,
    NEAR_DUPLICATE_BITS,
    PAINTINGS,
    TRAIN,
    assemble_jigsaw,
    build_corpus,
    credit_for,
    dhash,
    format_csv,
    licence_family,
    open_package,
    parse_board,
    parse_readme,
    read_attribution,
)
from nst.dataset.rcc import COMPRESSED_ZLIB, COMPRESSED_ZSTD, RccArchive, read_rcc
from nst.errors import NSTError

ACT = "gcompris/src/activities"

# ------------------------------------------------------------------------------------------------
# A minimal writer of Qt's binary resource format (what `rcc --binary` writes)


def qcompress(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + zlib.compress(data)


def write_rcc(files: dict[str, bytes], *, compress=(), zstd=(), version: int = 3) -> bytes:
    """A bundle holding ``files`` (path -> bytes); paths in ``compress`` stored as qCompress
    does, those in ``zstd`` flagged as zstd (their bytes given as they are)."""
    tree: dict = {}
    for path in files:
        node = tree
        *dirs, name = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = path
    names, name_at = bytearray(), {}
    blob = bytearray()

    def name_offset(name: str) -> int:
        if name not in name_at:
            name_at[name] = len(names)
            names.extend(struct.pack(">HI", len(name), 0) + name.encode("utf-16-be"))
        return name_at[name]

    # nodes in breadth-first order: each directory's children are consecutive
    nodes = [("", tree)]
    records = []
    i = 0
    while i < len(nodes):
        name, value = nodes[i]
        offset = name_offset(name) if i else 0
        if isinstance(value, dict):
            children = sorted(value.items())
            record = struct.pack(">IHII", offset, 0x02, len(children), len(nodes))
            nodes += children
        else:
            data = files[value]
            flags = 0
            if value in compress:
                data, flags = qcompress(data), COMPRESSED_ZLIB
            elif value in zstd:
                flags = COMPRESSED_ZSTD
            record = struct.pack(">IHHHI", offset, flags, 0, 0, len(blob))
            blob.extend(struct.pack(">I", len(data)) + data)
        records.append(record + (struct.pack(">Q", 1_700_000_000_000) if version >= 2 else b""))
        i += 1
    header = 24 if version >= 3 else 20
    data_at = header
    names_at = data_at + len(blob)
    tree_at = names_at + len(names)
    out = b"qres" + struct.pack(">IIII", version, tree_at, data_at, names_at)
    if version >= 3:
        out += struct.pack(">I", 1 if compress else 0)
    return out + bytes(blob) + bytes(names) + b"".join(records)


FILES = {
    "a/README": b"hello\n",
    "a/b/photo.bin": bytes(range(256)) * 40,
    "a/b/zeros.bin": b"\0" * 5000,
    "a/b/c/deep.txt": "naïve – ünïcode\n".encode(),
    "top.txt": b"",
    "a/Ünïcode name.txt": b"x",
}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_round_trip_plain_and_compressed(version):
    data = write_rcc(FILES, compress={"a/b/photo.bin", "a/b/zeros.bin"}, version=version)
    bundle = RccArchive(data, name="test.rcc")
    assert bundle.version == version
    assert bundle.paths == sorted(FILES)
    for path, content in FILES.items():
        assert bundle.read(path) == content
    compression = {e.path: e.compression for e in bundle.entries}
    assert compression["a/b/photo.bin"] == "zlib" and compression["top.txt"] == "none"
    # the compressed entry really is smaller on disk than its bytes
    assert len(data) < sum(len(v) for v in FILES.values())
    assert bundle.entries[0].last_modified == (1_700_000_000_000 if version >= 2 else 0)


def test_rcc_from_file_and_missing_entry(tmp_path):
    path = tmp_path / "x.rcc"
    path.write_bytes(write_rcc(FILES))
    bundle = read_rcc(path)
    assert len(bundle) == len(FILES) and "a/README" in bundle and "a" not in bundle
    with pytest.raises(NSTError, match="holds no file 'nope'"):
        bundle.read("nope")


def test_not_an_rcc_is_the_projects_error(tmp_path):
    path = tmp_path / "photo.rcc"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(NSTError, match="is not a Qt resource bundle"):
        read_rcc(path)
    with pytest.raises(NSTError, match="cannot read resource bundle"):
        read_rcc(tmp_path / "absent.rcc")
    with pytest.raises(NSTError, match="format version 9"):
        RccArchive(b"qres" + struct.pack(">IIII", 9, 0, 0, 0))


def test_truncated_or_corrupt_rcc():
    data = write_rcc(FILES, compress={"a/b/photo.bin"})
    with pytest.raises(NSTError, match="truncated or corrupt"):
        RccArchive(data[:-10])
    # a qCompress header announcing the wrong length
    bundle = RccArchive(data)
    entry = bundle.entry("a/b/photo.bin")
    bad = bytearray(data)
    bad[entry.data_offset + 4 : entry.data_offset + 8] = struct.pack(">I", 7)
    with pytest.raises(NSTError, match="inflates to 10240 bytes, not the 7"):
        RccArchive(bytes(bad)).read("a/b/photo.bin")


def test_zstd_entry_is_decoded_or_explained():
    bundle = RccArchive(write_rcc({"z.bin": b"not zstd at all"}, zstd={"z.bin"}))
    assert bundle.entry("z.bin").compression == "zstd"
    # garbage: either the zstd decoder rejects it, or the error says what to install
    with pytest.raises(NSTError, match="zstd"):
        bundle.read("z.bin")


# ------------------------------------------------------------------------------------------------
# README credits

README = """Copyright: Timothée Giet, 2017 - based on Kabel font
License: CC-BY-SA 4.0
Files:
lower*.svg

Copyright: Dietmar Rabich / Wikimedia Commons
Source: https://commons.wikimedia.org/wiki/File:Alpakas.jpg
License: CC-BY-SA-4.0
Comments: cropping, sharpening
Files: alpaca.webp

Files: heron.webp
Source: https://example.org/heron.jpg
License: CC0-1.0
Copyright: Stephan Sprinz

Copyright:
  Copyright 1994-2006 Nicolas Pioch
  Copyright 2008 Bruno Coudoin
License: GPLv3 or later
Comment:
  All the paintings are from the WebMuseum.
  http://www.ibiblio.org/wm/about/license.html
Files:
  Lion_a1.webp
  Lion_a2.webp

Copyright: 2000, 2008 Bruno Coudoin and others
License: Public domain
Gogh4_0.webp
Gogh4_background.webp
Comment: based on an original painting by Van Gogh, Public domain image.

Copyright: Somebody
License: CC-BY-NC 2.0
Files:
wonders/nc.webp
"""


def test_readme_entries_in_every_layout():
    credits = parse_readme(README)
    assert len(credits) == 6
    alpaca = credit_for(credits, "alpaca.webp")
    assert (alpaca.author, alpaca.licence, alpaca.comment) == (
        "Dietmar Rabich / Wikimedia Commons",
        "CC-BY-SA-4.0",
        "cropping, sharpening",
    )
    assert alpaca.source == "https://commons.wikimedia.org/wiki/File:Alpakas.jpg"
    heron = credit_for(credits, "heron.webp")
    assert (heron.author, heron.licence) == ("Stephan Sprinz", "CC0-1.0")
    lion = credit_for(credits, "Lion_a2.webp")
    assert lion.author == "Copyright 1994-2006 Nicolas Pioch; Copyright 2008 Bruno Coudoin"
    assert lion.licence == "GPLv3 or later"
    assert lion.comment.endswith("http://www.ibiblio.org/wm/about/license.html")
    gogh = credit_for(credits, "Gogh4_background.webp")  # listed without a Files: field
    assert gogh.licence == "Public domain" and "Van Gogh" in gogh.comment
    assert credit_for(credits, "lowera.svg").licence == "CC-BY-SA 4.0"  # a pattern
    assert credit_for(credits, "wonders/nc.webp").licence == "CC-BY-NC 2.0"
    assert credit_for(credits, "unlisted.webp") is None


@pytest.mark.parametrize(
    "text, family",
    [
        ("Public Domain", "public-domain"),
        ("Public domain", "public-domain"),
        ("CC0-1.0", "CC0"),
        ("CC-BY 2.0", "CC-BY"),
        ("CC-BY-3.0", "CC-BY"),
        ("CC BY 4.0", "CC-BY"),
        ("CC-BY-SA 4.0", "CC-BY-SA"),
        ("CC-BY-SA-4.0", "CC-BY-SA"),
        ("GPLv3 or later", "GPL"),
        ("GPLv2+", "GPL"),
        ("CC-BY-NC 2.0", None),
        ("CC BY-ND 4.0", None),
        ("All rights reserved", None),
        ("", None),
    ],
)
def test_licence_family(text, family):
    assert licence_family(text) == family


BOARD = """QtObject {
   property string instruction: qsTr("Vincent Van Gogh, Village Street - 1890")
   property var levels : [
      {
         "pixmapfile" : "image/bg.svg",
         "type" : "SHAPE_BACKGROUND_IMAGE",
         "width": 702,
         "height": 515
      },
      {
         "pixmapfile" : "image/gogh_2.webp",
         "x" : "0.489",
         "y" : "0.224"
      }
   ]
}"""


def test_parse_board():
    board = parse_board(BOARD)
    assert board.title == "Vincent Van Gogh, Village Street - 1890"
    assert (board.background, board.width, board.height) == ("image/bg.svg", 702, 515)
    assert [(p.file, p.x, p.y) for p in board.pieces] == [("image/gogh_2.webp", 0.489, 0.224)]


# ------------------------------------------------------------------------------------------------
# Jigsaws


def cut_jigsaw(image: np.ndarray, board=(702, 515), at=(37, 23), rows=2, cols=3, seed=0):
    """Pieces of ``image`` as GCompris cuts them: wavy cut lines drawn on both neighbours (each
    piece's mask grown by a pixel); places given as centres up to 0.8 px off (as GCompris's
    are: they were measured on another board), as fractions rounded to three decimals."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    col = np.zeros((h, w), int)
    for c in range(1, cols):
        edge = c * w / cols + 4 * np.sin(yy / 5 + rng.uniform(0, 6))
        col += xx >= edge
    row = np.zeros((h, w), int)
    for r in range(1, rows):
        edge = r * h / rows + 4 * np.sin(xx / 6 + rng.uniform(0, 6))
        row += yy >= edge
    label = row * cols + col
    pieces, true_starts = [], []
    for k in range(rows * cols):
        mask = label == k
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        ys, xs = np.nonzero(grown)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        rgba = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
        rgba[..., :3] = image[y0:y1, x0:x1]
        rgba[..., 3] = 255 * grown[y0:y1, x0:x1]
        cx = round((at[0] + x0 + (x1 - x0) / 2 + rng.uniform(-0.8, 0.8)) / board[0], 3)
        cy = round((at[1] + y0 + (y1 - y0) / 2 + rng.uniform(-0.8, 0.8)) / board[1], 3)
        pieces.append((rgba, cx, cy))
        true_starts.append((at[0] + x0, at[1] + y0))
    return pieces, true_starts


def rounded_starts(pieces, board=(702, 515)):
    return [
        (round(x * board[0] - p.shape[1] / 2), round(y * board[1] - p.shape[0] / 2))
        for p, x, y in pieces
    ]


def test_jigsaw_is_put_back_exactly():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (90, 130, 3), dtype=np.uint8)
    pieces, true_starts = cut_jigsaw(image)
    # the rounded places are off, so the assembly has something to correct
    assert rounded_starts(pieces) != true_starts
    result = assemble_jigsaw(pieces, 702, 515)
    assert result.image.size == (130, 90)
    assert np.array_equal(np.asarray(result.image), image)
    assert result.filled == 0 and result.trimmed == 0 and result.seam_rms == 0
    assert result.moved >= 1


def test_opaque_tiles_are_snapped_edge_to_edge():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    # three opaque tiles whose rounded places overlap by a pixel
    tiles, at = [], 100.4
    for x0, x1 in ((0, 31), (31, 61), (61, 90)):
        rgba = np.dstack([image[:, x0:x1], np.full((60, x1 - x0), 255, np.uint8)])
        tiles.append((rgba, round((at + x0 + (x1 - x0) / 2) / 702, 3), round(40.5 / 515, 3)))
    starts = [x for x, _ in rounded_starts(tiles)]
    assert starts != [starts[0], starts[0] + 31, starts[0] + 61]  # not edge to edge
    result = assemble_jigsaw(tiles, 702, 515)
    assert np.array_equal(np.asarray(result.image), image)


# ------------------------------------------------------------------------------------------------
# Whole builds from a fake package


def smooth_image(seed: int, size=(72, 56)) -> np.ndarray:
    """A 'photograph': a tilted colour gradient and a few soft blobs (stable under rescaling)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    image = (
        128
        + rng.uniform(-90, 90, 3) * (rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy)[..., None]
    )
    for _ in range(5):
        cx, cy, r = (
            rng.uniform(0, w / max(w, h)),
            rng.uniform(0, h / max(w, h)),
            rng.uniform(0.08, 0.3),
        )
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / r**2)
        image += rng.uniform(-120, 120, 3) * blob[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(array: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def credit(files: str, licence: str, source: str = "", author: str = "Someone") -> str:
    src = f"Source: {source}\n" if source else ""
    return f"Copyright: {author}\n{src}License: {licence}\nFiles:\n{files}\n\n"


def fake_package(root: Path) -> dict:
    """A folder like an unpacked gcompris-qt-data, its bundles small; returns the photos' bytes."""
    photo = {n: encode(smooth_image(n)) for n in range(1, 10)}
    tiny = encode(smooth_image(99, size=(40, 24)))
    cat = f"{ACT}/categorization/resource/images"
    bundles = {
        "categorization": {
            f"{cat}/fishes/README": credit("fish1.png\nfish2.png", "Public Domain")
            + credit("fish3.png", "CC-BY-NC 2.0")
            + credit("fish4.png", "GPLv2+")
            + credit("tiny.png", "CC0-1.0"),
            f"{cat}/fishes/fish1.png": photo[1],
            f"{cat}/fishes/fish2.png": photo[2],
            f"{cat}/fishes/fish3.png": photo[3],
            f"{cat}/fishes/fish4.png": photo[4],
            f"{cat}/fishes/tiny.png": tiny,
            f"{cat}/fishes/unlisted.png": photo[5],
            f"{cat}/alphabets/README": credit("alphabets.png", "CC-BY-SA 4.0"),
            f"{cat}/alphabets/alphabets.png": photo[6],
        },
        "erase": {
            f"{ACT}/erase/resource/README": credit("a.png", "CC-BY-SA-4.0", "https://x/1.jpg")
            + credit("b.png", "CC-BY 2.0", "https://x/1.jpg")
            + credit("c.png", "CC0-1.0", "https://x/2.jpg"),
            f"{ACT}/erase/resource/a.png": photo[7],
            f"{ACT}/erase/resource/b.png": encode(smooth_image(8, size=(80, 60))),
            f"{ACT}/erase/resource/c.png": photo[9],
            f"{ACT}/erase/resource/board/x.png": photo[1],
        },
        "explore_monuments": {
            f"{ACT}/explore_monuments/resource/README": credit(
                "wonders/w.png\nwonders/twin.png", "Public Domain"
            ),
            f"{ACT}/explore_monuments/resource/wonders/w.png": encode(smooth_image(21)),
            f"{ACT}/explore_monuments/resource/wonders/twin.png": encode(smooth_image(22)),
        },
        "explore_world_animals": {},
        "explore_farm_animals": {},
        "explore_world_music": {},
    }
    # paintings: one jigsaw of 6 pieces
    painting = np.random.default_rng(5).integers(0, 256, (90, 130, 3), dtype=np.uint8)
    pieces, _ = cut_jigsaw(painting)
    base = f"{ACT}/paintings/resource"
    levels = [
        '{ "pixmapfile" : "image/bg.svg", "type" : "SHAPE_BACKGROUND_IMAGE",'
        ' "width": 702, "height": 515 }'
    ]
    paintings = {}
    for k, (rgba, x, y) in enumerate(pieces):
        paintings[f"{base}/image/P_{k}.webp"] = encode(rgba, "WEBP", lossless=True)
        levels.append(f'{{ "pixmapfile" : "image/P_{k}.webp", "x" : "{x}", "y" : "{y}" }}')
    paintings[f"{base}/board/board1_0.qml"] = (
        'QtObject {\n property string instruction: qsTr("A Painter, A Painting - 1500")\n'
        f" property var levels : [\n{','.join(levels)}\n ]\n}}\n"
    ).encode()
    paintings[f"{base}/image/README"] = credit(
        "\n".join(f"P_{k}.webp" for k in range(len(pieces))), "GPLv3 or later"
    )
    bundles[PAINTINGS] = paintings
    det = f"{ACT}/details/resource"
    bundles["details"] = {
        f"{det}/image/README": "Copyright: Bruno\nLicense: Public domain\nGogh_background.png\n"
        "Comment: based on an original painting by Van Gogh\n\n"
        + credit("Castle_background.png", "CC-BY-SA 4.0"),
        f"{det}/image/Gogh_background.png": encode(smooth_image(31)),
        f"{det}/image/Castle_background.png": encode(smooth_image(32)),
        f"{det}/board/board1_0.qml": b'instruction: qsTr("Vincent van Gogh, Night - 1888")\n'
        b'{ "pixmapfile" : "image/Gogh_background.png", "type" : "SHAPE_BACKGROUND_IMAGE" }',
        f"{det}/board/board2_0.qml": b'instruction: qsTr("A castle")\n'
        b'{ "pixmapfile" : "image/Castle_background.png", "type" : "SHAPE_BACKGROUND_IMAGE" }',
    }
    rcc = root / "usr/share/gcompris-qt/rcc"
    rcc.mkdir(parents=True)
    for name, files in bundles.items():
        files = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
        (rcc / f"{name}.rcc").write_bytes(write_rcc(files, compress=set(list(files)[::2])))
    return {"photo": photo, "painting": painting}


@pytest.fixture
def package(tmp_path):
    root = tmp_path / "pkg"
    made = fake_package(root)
    held = tmp_path / "held"
    held.mkdir()
    # the same bytes as fish2, and a rescaled, JPEG-recompressed copy of explore_monuments' twin
    (held / "same.png").write_bytes(made["photo"][2])
    twin = Image.fromarray(smooth_image(22)).resize((100, 78), Image.Resampling.BICUBIC)
    (held / "twin.jpg").write_bytes(encode(np.asarray(twin), "JPEG", quality=80))
    (held / "other.png").write_bytes(encode(smooth_image(77)))
    return root, held, made


def build(package, out, **kw):
    root, held, _ = package
    lines = []
    result = build_corpus(root, out, min_side=32, exclude_dirs=[held], log=lines.append, **kw)
    return result, lines


def test_build_keeps_licensed_photos_and_holds_out_paintings(package, tmp_path):
    out = tmp_path / "corpus"
    result, _ = build(package, out)
    rows = read_attribution(out / "attribution.csv")
    train = {r["file"]: r for r in rows if r["split"] == TRAIN}
    held = {r["file"]: r for r in rows if r["split"] == HELDOUT}
    assert sorted(train) == [
        "photos/categorization-fishes-fish1.png",
        "photos/erase-b.png",
        "photos/erase-c.png",
        "photos/explore_monuments-wonders-w.png",
    ]
    assert sorted(held) == [
        "paintings/a-painter-a-painting-1500.png",
        "paintings/vincent-van-gogh-night-1888.png",
    ]
    reasons = {i.origin.rsplit("/", 1)[1]: i.reason for i in result.skipped}
    assert reasons["fish2.png"].startswith("the same file as held-out")
    assert reasons["twin.png"].startswith("a near-duplicate of held-out")
    assert reasons["fish3.png"] == "licence not clear: CC-BY-NC 2.0"
    assert reasons["fish4.png"].startswith("licence GPLv2+ (GPL) is not one taken")
    assert reasons["tiny.png"] == "too small: 40x24, shorter side under 32 px"
    assert reasons["unlisted.png"].startswith("not named in")
    assert reasons["a.png"] == "the same source as photos/erase-b.png"  # b has more pixels
    assert "alphabets.png" not in reasons and "x.png" not in reasons  # never candidates
    assert len(result.skipped) == 7

    fish = train["photos/categorization-fishes-fish1.png"]
    assert (fish["author"], fish["licence"], fish["licence_family"]) == (
        "Someone",
        "Public Domain",
        "public-domain",
    )
    assert (fish["width"], fish["height"]) == (72, 56)
    for row in rows:  # each table row describes the file written
        data = (out / row["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert Image.open(out / row["file"]).size == (row["width"], row["height"])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == sorted(
        [*train, *held, "attribution.csv", "skipped.csv", "corpus.json"]
    )
    # the jigsaw came back whole, and is never training data
    painting = np.asarray(Image.open(out / "paintings/a-painter-a-painting-1500.png"))
    assert np.array_equal(painting, package[2]["painting"])
    assert held["paintings/a-painter-a-painting-1500.png"]["licence"] == "GPLv3 or later"
    assert not set(r["sha256"] for r in train.values()) & set(r["sha256"] for r in held.values())


def test_build_is_deterministic_and_removes_stale_files(package, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    build(package, a)
    build(package, b)
    files_a = {p.relative_to(a): p.read_bytes() for p in sorted(a.rglob("*")) if p.is_file()}
    files_b = {p.relative_to(b): p.read_bytes() for p in sorted(b.rglob("*")) if p.is_file()}
    assert files_a == files_b and len(files_a) == 9

    # a rerun writes nothing; an image an earlier build listed and this one does not is removed,
    # a file no build listed stays
    rows = read_attribution(a / "attribution.csv")
    stale = dict(rows[0], file="photos/gone.png")
    (a / "photos/gone.png").write_bytes(b"old")
    (a / "photos/mine.txt").write_text("keep")
    (a / "attribution.csv").write_text(format_csv([*rows, stale], COLUMNS))
    _, lines = build(package, a)
    assert any("(0 written, 6 unchanged)" in line for line in lines)
    assert not (a / "photos/gone.png").exists() and (a / "photos/mine.txt").exists()
    assert (a / "attribution.csv").read_bytes() == files_b[Path("attribution.csv")]


def test_failed_build_leaves_no_half_written_file(package, tmp_path, monkeypatch):
    out = tmp_path / "corpus"
    calls = []

    def failing_write(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        from nst.atomic import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_bytes(data)

    monkeypatch.setattr("nst.dataset.corpus.write_bytes", failing_write)
    with pytest.raises(OSError, match="disk full"):
        build(package, out)
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert len(left) == 2 and not any(".tmp" in f or f.endswith(".csv") for f in left)


def test_package_from_a_deb(package, tmp_path):
    root, _, _ = package
    deb = tmp_path / "gcompris-qt-data_9.9-1_all.deb"
    deb.write_bytes(make_deb(root, "gcompris-qt-data", "9.9-1"))
    pkg = open_package(deb, ["erase", "paintings"])
    assert pkg.version == "9.9-1" and len(pkg.sha256) == 64
    assert sorted(pkg.bundles) == ["erase", "paintings"]
    assert f"{ACT}/erase/resource/c.png" in pkg.bundles["erase"]

    other = tmp_path / "other.deb"
    other.write_bytes(make_deb(root, "something-else", "1.0"))
    with pytest.raises(NSTError, match="is the package something-else, not gcompris-qt-data"):
        open_package(other, ["erase"])
    with pytest.raises(NSTError, match="is not a Debian package"):
        open_package(root / "usr/share/gcompris-qt/rcc/erase.rcc", ["erase"])
    with pytest.raises(NSTError, match=r"holds no lang\.rcc"):
        open_package(deb, ["lang"])


def make_deb(root: Path, package: str, version: str) -> bytes:
    """A .deb (an ar archive of debian-binary, control.tar.gz and data.tar.xz) of ``root``."""

    def tar(mode: str, add) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as t:
            add(t)
        return buf.getvalue()

    def add_control(t):
        text = f"Package: {package}\nVersion: {version}\nArchitecture: all\n".encode()
        info = tarfile.TarInfo("./control")
        info.size = len(text)
        t.addfile(info, io.BytesIO(text))

    control = tar("w:gz", add_control)
    data = tar("w:xz", lambda t: t.add(root / "usr", arcname="./usr"))
    out = b"!<arch>\n"
    for name, blob in (("debian-binary", b"2.0\n"), ("control.tar.gz", control)):
        out += ar_member(name, blob)
    return out + ar_member("data.tar.xz", data)


def ar_member(name: str, data: bytes) -> bytes:
    header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


def test_difference_hash_finds_rescaled_copies_only():
    original = Image.fromarray(smooth_image(40, size=(160, 120)))
    copy = Image.open(
        io.BytesIO(encode(np.asarray(original.resize((97, 73), Image.Resampling.LANCZOS)), "JPEG"))
    )
    others = [Image.fromarray(smooth_image(seed, size=(160, 120))) for seed in range(41, 61)]
    assert bin(dhash(original) ^ dhash(copy)).count("1") <= NEAR_DUPLICATE_BITS
    assert min(bin(dhash(original) ^ dhash(o)).count("1") for o in others) > NEAR_DUPLICATE_BITS


def load_script():
    spec = importlib.util.spec_from_file_location("build_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = Path(__file__).resolve().parents[1] / "resources" / "corpus" / "build_corpus.py"


def test_build_script(package, tmp_path, capsys, monkeypatch):
    root, held, _ = package
    script = load_script()
    table = tmp_path / "table.csv"
    args = ["--deb", str(root), "--out", str(tmp_path / "out"), "--min-side", "32"]
    assert script.main([*args, "--exclude", str(held), "--attribution", str(table)]) == 0
    out = capsys.readouterr().out
    assert "4 training photograph(s), 2 held-out painting(s), 7 left out" in out
    assert table.read_bytes() == (tmp_path / "out" / "attribution.csv").read_bytes()
    assert script.main(["--deb", str(tmp_path / "nothing.deb"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err

    # without --deb: a .deb already in the cache is used, else apt-get downloads one
    cache = tmp_path / "cache"
    calls = []

    def fake_apt(cmd, cwd, check):
        calls.append(cmd)
        (Path(cwd) / "gcompris-qt-data_9.9-1_all.deb").write_bytes(
            make_deb(root, "gcompris-qt-data", "9.9-1")
        )

    monkeypatch.setattr(script.subprocess, "run", fake_apt)
    assert script.download(cache, None).name == "gcompris-qt-data_9.9-1_all.deb"
    assert script.download(cache, None).name == "gcompris-qt-data_9.9-1_all.deb"
    assert calls == [["apt-get", "download", "gcompris-qt-data"]]
