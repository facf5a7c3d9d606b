"""A licensed training corpus of photographs, and held-out paintings, from GCompris's data.

The Debian package ``gcompris-qt-data`` holds GCompris's activities as Qt resource bundles
(``usr/share/gcompris-qt/rcc/NAME.rcc``, read by :mod:`nst.dataset.rcc`). Each activity's
folders carry a ``README`` that names the author, licence and source of every file.
:func:`build_corpus` takes the package (the ``.deb`` itself, or a folder it was unpacked into)
and writes:

- ``photos/NAME.webp``: the photographs of :data:`PHOTO_FOLDERS`, their bytes as shipped, split
  ``train``; kept only with a README entry whose licence is one of :data:`PHOTO_LICENCES`, at
  least ``min_side`` px on the shorter side, and not (nearly) the same picture as a held-out image;
- ``paintings/NAME.png``: the 22 pictures of the ``paintings`` jigsaw, put back together from
  their pieces (:func:`assemble_jigsaw`), and ``paintings/NAME.webp``: the Van Gogh paintings of
  ``details`` (the whole picture its board is drawn on), split ``heldout-style``: style images,
  never training data;
- ``attribution.csv`` (:data:`COLUMNS`, one row per image written), ``skipped.csv`` (every
  candidate left out, and why) and ``corpus.json`` (the package, the settings, the counts).

Held out from training, besides the paintings: every image of ``exclude_dirs`` (the project's
own content and style images), matched by SHA-256 and by a 64-bit difference hash
(:func:`dhash`, at most :data:`NEAR_DUPLICATE_BITS` bits apart). Of photographs that repeat
each other (the same bytes, the same source, or hashes that close), only the largest is kept.

Everything is read and checked before anything is written; every file is written atomically, the
tables last, and files an earlier build wrote that this one does not are removed. The same
package gives the same bytes.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import os
import re
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from nst.atomic import write_bytes
from nst.dataset.names import IMAGE_SUFFIXES, safe_name
from nst.dataset.rcc import RccArchive
from nst.errors import NSTError, clause

PACKAGE = "gcompris-qt-data"
RCC_DIR = "usr/share/gcompris-qt/rcc"
ACTIVITIES_ROOT = "gcompris/src/activities"

# activity -> (folder of its resources, the sub-folders holding photographs; () = all of it).
# `lang` (cartoon word images) and the categories' icons (`alphabets`, `numbers`) are left out.
PHOTO_FOLDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "categorization": (
        "resource/images",
        ("fishes", "monuments", "others", "renewable", "tools"),
    ),
    "explore_monuments": ("resource", ()),
    "erase": ("resource", ()),
    "explore_world_animals": ("resource/animals", ()),
    "explore_farm_animals": ("resource/animals", ()),
    "explore_world_music": ("resource/music", ()),
}
PAINTINGS = "paintings"
DETAILS = "details"
# the details pictures that are paintings (the others are photographs of buildings)
DETAILS_PAINTER = "van gogh"

TRAIN = "train"
HELDOUT = "heldout-style"
MIN_SIDE = 256
NEAR_DUPLICATE_BITS = 6

PHOTO_LICENCES = frozenset({"public-domain", "CC0", "CC-BY", "CC-BY-SA"})
PAINTING_LICENCES = PHOTO_LICENCES | {"GPL"}

COLUMNS = (
    "file",
    "sha256",
    "width",
    "height",
    "author",
    "licence",
    "source",
    "activity",
    "split",
    "licence_family",
    "title",
    "origin",
    "note",
)
SKIPPED_COLUMNS = ("origin", "activity", "reason")

Log = Callable[[str], object]


# -- the package


@dataclass(frozen=True)
class Package:
    """The bundles of one ``gcompris-qt-data`` package, and what identifies it."""

    bundles: dict[str, RccArchive]
    name: str = PACKAGE
    version: str = ""
    sha256: str = ""


def open_package(source: str | os.PathLike, names: Iterable[str]) -> Package:
    """The bundles ``names`` of a ``.deb`` file, or of a folder holding them (an unpacked package,
    its ``rcc`` folder, or any folder with ``NAME.rcc`` files)."""
    path = Path(source).expanduser()
    names = sorted(set(names))
    if path.is_dir():
        return _package_from_dir(path, names)
    if not path.is_file():
        raise NSTError(
            f"{path} does not exist; give the {PACKAGE} .deb (`apt-get download {PACKAGE}`) "
            "or the folder it was unpacked into."
        )
    data = path.read_bytes()
    members = _ar_members(data, path)
    control = _tar_files(members, "control.tar", path, lambda n: n in ("control", "./control"))
    fields = _control_fields(next(iter(control.values()), b""))
    if fields.get("Package") != PACKAGE:
        raise NSTError(
            f"{path} is the package {fields.get('Package') or '(unnamed)'}, not {PACKAGE}; "
            f"download it with `apt-get download {PACKAGE}`."
        )
    wanted = {f"{RCC_DIR}/{n}.rcc": n for n in names}
    found = _tar_files(members, "data.tar", path, lambda n: n.lstrip("./") in wanted)
    bundles = {
        wanted[n.lstrip("./")]: RccArchive(b, name=f"{path.name}:{n}") for n, b in found.items()
    }
    _require(bundles, names, path)
    return Package(bundles, version=fields.get("Version", ""), sha256=_sha256(data))


def _package_from_dir(path: Path, names: list[str]) -> Package:
    for folder in (path / RCC_DIR, path / "rcc", path):
        if all((folder / f"{n}.rcc").is_file() for n in names):
            bundles = {n: RccArchive.open(folder / f"{n}.rcc") for n in names}
            return Package(bundles, version=_version_from_dir(path))
    raise NSTError(
        f"{path} holds no {', '.join(f'{n}.rcc' for n in names)} (nor does {path / RCC_DIR}); "
        f"give the {PACKAGE} .deb or the folder it was unpacked into (`dpkg-deb -x`)."
    )


def _version_from_dir(path: Path) -> str:
    """The version in the unpacked package's changelog (``dpkg-deb -x`` keeps no control file)."""
    import gzip

    changelog = path / "usr/share/doc" / PACKAGE / "changelog.Debian.gz"
    try:
        first = gzip.decompress(changelog.read_bytes()).split(b"\n", 1)[0].decode()
    except (OSError, EOFError, UnicodeDecodeError):
        return ""
    match = re.match(r"\S+ \(([^)]+)\)", first)
    return match.group(1) if match else ""


def _require(bundles: dict, names: list[str], where: Path) -> None:
    missing = [n for n in names if n not in bundles]
    if missing:
        raise NSTError(
            f"{where} holds no {', '.join(f'{n}.rcc' for n in missing)}; give the "
            f"{PACKAGE} .deb or the folder it was unpacked into (`dpkg-deb -x`)."
        )


def _ar_members(data: bytes, path: Path) -> dict[str, bytes]:
    """The members of an ``ar`` archive (a ``.deb`` is one)."""
    if data[:8] != b"!<arch>\n":
        raise NSTError(
            f"{path} is not a Debian package (.deb); download it with `apt-get download {PACKAGE}`."
        )
    members, at = {}, 8
    while at + 60 <= len(data):
        header = data[at : at + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58])
        except ValueError:
            raise NSTError(
                f"{path} is a corrupt .deb (a bad member header); download it again."
            ) from None
        members[name] = data[at + 60 : at + 60 + size]
        at += 60 + size + (size % 2)
    return members


def _tar_files(
    members: dict[str, bytes], prefix: str, path: Path, want: Callable[[str], bool]
) -> dict[str, bytes]:
    name = next((n for n in sorted(members) if n.startswith(prefix)), None)
    if name is None:
        raise NSTError(f"{path} holds no {prefix}.* member; it is not a usable .deb.")
    found = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(members[name]), mode="r|*") as tar:
            for info in tar:
                if info.isfile() and want(info.name):
                    found[info.name] = tar.extractfile(info).read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        if name.endswith(".zst"):  # Python's tarfile reads zstd from 3.14 on
            raise NSTError(
                f"{path} compresses its files with zstd, which this Python cannot read; "
                "unpack it with `dpkg-deb -x` and give the folder instead."
            ) from None
        raise NSTError(f"{path} is a corrupt .deb ({clause(exc)}); download it again.") from None
    return found


def _control_fields(text: bytes) -> dict[str, str]:
    fields = {}
    for line in text.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            fields[key.strip()] = value.strip()
    return fields


# -- README credits


@dataclass(frozen=True)
class Credit:
    """One README entry: the files it covers (names or glob patterns, relative to the README's
    folder) and what it says about them, worded as written."""

    files: tuple[str, ...]
    author: str = ""
    licence: str = ""
    source: str = ""
    comment: str = ""


_FIELD = re.compile(r"^(copyright|author|licen[cs]e|source|files?|comments?)\s*:\s*(.*)$", re.I)
_FILE = re.compile(r"^[^\s:]+\.[A-Za-z0-9]{2,4}$")


def parse_readme(text: str) -> list[Credit]:
    """The entries of a GCompris README: blocks separated by blank lines, each with ``Copyright``,
    ``License``, ``Source``, ``Comment(s)`` and ``Files`` fields. A field may continue on the
    next lines; a file may be listed on the ``Files:`` line, below it, or (some READMEs forget
    the field) on a line of its own."""
    credits = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        fields: dict[str, list[str]] = {}
        files: list[str] = []
        current = None
        for raw in block.splitlines():
            line = raw.strip()
            if not line:
                continue
            match = _FIELD.match(line)
            if match:
                current = _field_name(match.group(1))
                value = match.group(2).strip()
                if current == "files":
                    files += value.replace(",", " ").split()
                elif value:
                    fields.setdefault(current, []).append(value)
                else:
                    fields.setdefault(current, [])
            elif _FILE.match(line) or ("*" in line and " " not in line):
                files.append(line)
            elif current and current != "files":
                fields[current].append(line)
        if files:
            credits.append(
                Credit(
                    files=tuple(files),
                    author="; ".join(fields.get("author", [])),
                    licence=" ".join(fields.get("licence", [])),
                    source=" ".join(fields.get("source", [])),
                    comment=" ".join(fields.get("comment", [])),
                )
            )
    return credits


def _field_name(key: str) -> str:
    key = key.lower()
    if key in ("copyright", "author"):
        return "author"
    if key.startswith("licen"):
        return "licence"
    if key.startswith("file"):
        return "files"
    if key.startswith("comment"):
        return "comment"
    return key


def credit_for(credits: list[Credit], name: str) -> Credit | None:
    """The entry naming ``name`` (a path relative to the README's folder): the first that lists
    it exactly, else the first whose pattern matches it."""
    for credit in credits:
        if name in credit.files:
            return credit
    for credit in credits:
        if any("*" in f and fnmatch.fnmatchcase(name, f) for f in credit.files):
            return credit
    return None


def licence_family(text: str) -> str | None:
    """The family of a licence as a README words it (``public-domain``, ``CC0``, ``CC-BY``,
    ``CC-BY-SA``, ``GPL``), or None: unknown, empty, or a non-commercial or no-derivatives
    licence."""
    t = re.sub(r"[\s_]+", "-", text.strip().lower())
    if not t or re.search(r"\b(nc|nd|non-?commercial|no-?deriv)", t):
        return None
    if "public-domain" in t or t in ("pd", "pd-self"):
        return "public-domain"
    if re.search(r"\bcc-?0\b|cc-?zero", t):
        return "CC0"
    if re.search(r"\bcc-?by-?sa\b", t):
        return "CC-BY-SA"
    if re.search(r"\bcc-?by\b", t):
        return "CC-BY"
    if re.search(r"\bgpl", t):
        return "GPL"
    return None


class Readmes:
    """The READMEs of one bundle, by folder; :meth:`credit` finds a file's entry in the nearest."""

    def __init__(self, bundle: RccArchive):
        self.bundle = bundle
        self._cache: dict[str, list[Credit] | None] = {}

    def credit(self, path: str) -> tuple[Credit | None, str]:
        """The entry for the file at ``path`` and the README it came from ("" if none)."""
        folder = PurePosixPath(path).parent
        while str(folder) not in (".", ""):
            credits = self._credits(str(folder))
            if credits is not None:
                rel = PurePosixPath(path).relative_to(folder).as_posix()
                return credit_for(credits, rel), f"{folder}/README"
            if str(folder) == ACTIVITIES_ROOT:
                break
            folder = folder.parent
        return None, ""

    def _credits(self, folder: str) -> list[Credit] | None:
        if folder not in self._cache:
            readme = f"{folder}/README"
            self._cache[folder] = (
                parse_readme(self.bundle.read(readme).decode("utf-8", "replace"))
                if readme in self.bundle
                else None
            )
        return self._cache[folder]


# -- images


@dataclass
class Item:
    """One image of the corpus, kept or not."""

    name: str
    ext: str
    data: bytes
    activity: str
    origin: str
    split: str
    width: int = 0
    height: int = 0
    dhash: int = 0
    credit: Credit = field(default_factory=lambda: Credit(()))
    title: str = ""
    note: str = ""
    reason: str = ""  # why it is left out; "" when kept

    @cached_property
    def sha256(self) -> str:
        return _sha256(self.data)

    @property
    def file(self) -> str:
        folder = "photos" if self.split == TRAIN else "paintings"
        return f"{folder}/{self.name}.{self.ext}"


def inspect(data: bytes, what: str) -> tuple[int, int, int]:
    """Width, height and difference hash (:func:`dhash`) of an image, decoded fully (raises
    :class:`NSTError` if it does not decode)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im.size[0], im.size[1], dhash(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise NSTError(f"{what} is not a readable image ({clause(exc)}).") from None


def dhash(image: Image.Image) -> int:
    """A 64-bit difference hash: whether each of 8x8 cells of the grey image is brighter than its
    right neighbour. Near-duplicates (rescaled, re-encoded, lightly cropped) differ in few bits."""
    grey = image.convert("L").resize((9, 8), Image.Resampling.BOX)
    px = np.asarray(grey, dtype=np.int16)
    bits = (px[:, 1:] > px[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def photo_items(bundle: RccArchive, activity: str) -> list[Item]:
    """The image files of an activity's photograph folders, with their README entries."""
    root, subfolders = PHOTO_FOLDERS[activity]
    base = f"{ACTIVITIES_ROOT}/{activity}/{root}/"
    readmes = Readmes(bundle)
    items = []
    for entry in bundle.entries:
        path = entry.path
        suffix = PurePosixPath(path).suffix.lower()
        if not path.startswith(base) or suffix not in IMAGE_SUFFIXES:
            continue
        rel = path[len(base) :]
        if subfolders and rel.split("/", 1)[0] not in subfolders:
            continue
        if "/board/" in f"/{rel}":
            continue
        credit, readme = readmes.credit(path)
        name = safe_name(f"{activity}-{PurePosixPath(rel).with_suffix('').as_posix()}")
        item = Item(
            name=name.replace(".", "-"),
            ext=suffix.lstrip(".").replace("jpeg", "jpg"),
            data=bundle.read(entry),
            activity=activity,
            origin=f"{activity}.rcc:{path}",
            split=TRAIN,
            credit=credit or Credit(()),
        )
        if credit is None:
            item.reason = f"not named in {readme or 'any README'}"
        items.append(item)
    return items


# -- paintings


@dataclass(frozen=True)
class Piece:
    """A jigsaw piece: its image file and the centre of its place, as fractions of the board."""

    file: str
    x: float
    y: float


@dataclass(frozen=True)
class Board:
    """A board of the paintings (or details) activity: its title, background size and pieces."""

    title: str
    background: str
    width: int
    height: int
    pieces: tuple[Piece, ...]


def parse_board(text: str) -> Board:
    """The title and the pieces of a ``board*.qml`` of the babymatch activities."""
    title = re.search(r'instruction\s*:\s*qsTr\(\s*"((?:[^"\\]|\\.)*)"', text)
    background, width, height, pieces = "", 0, 0, []
    for obj in re.findall(r"\{([^{}]*)\}", text):
        props = dict(re.findall(r'"(\w+)"\s*:\s*"?([^",\n]*)"?', obj))
        if "pixmapfile" not in props:
            continue
        if props.get("type") == "SHAPE_BACKGROUND_IMAGE":
            background = props["pixmapfile"]
            width, height = int(props.get("width") or 0), int(props.get("height") or 0)
        elif "x" in props and "y" in props:
            pieces.append(Piece(props["pixmapfile"], float(props["x"]), float(props["y"])))
    return Board(title.group(1) if title else "", background, width, height, tuple(pieces))


@dataclass(frozen=True)
class Assembly:
    """A jigsaw put back together: the picture, and how well its pieces fit."""

    image: Image.Image
    moved: int  # pieces moved off their rounded places
    filled: int  # pixels no piece covers, filled from their neighbours
    trimmed: int  # rows and columns cut off the ragged border
    seam_rms: float  # RMS colour difference where pieces overlap (0-255)


SEARCH = 6
MIN_OVERLAP = 40
MAX_TRIM = 3
# the cost of a pixel no piece covers (the worst colour mismatch), and the reward of a pixel two
# pieces cover (a mismatch of 6 levels a channel: pieces in place agree to about 3, pieces a
# pixel off disagree by 10 or more): overlapping pieces that agree belong together
_HOLE_COST = 3 * 255.0**2
_OVERLAP_REWARD = 3 * 6.0**2


def assemble_jigsaw(pieces: list[tuple[np.ndarray, float, float]], width: int, height: int):
    """Put a jigsaw back together. ``pieces`` are RGBA arrays with the centre of their place as
    fractions of a ``width`` x ``height`` board (the pieces' pixels are board pixels).

    The places in a board file are approximate (GCompris's are up to 2 px off), which shows as
    seams. Jigsaw pieces share their cut lines, so each pair of neighbours is registered
    (within :data:`SEARCH` px of their places, the offset where their shared pixels agree best)
    and the places that agree best with all those offsets (least squares, weighted by how
    clearly each offset won) are taken; then each piece moves a pixel at a time while that
    lowers the picture's cost (colour disagreement where pieces overlap, pixels no piece
    covers). Opaque rectangular tiles are laid edge to edge instead. A pixel is the
    alpha-weighted mean of the pieces covering it; a border row or column with uncovered pixels
    is trimmed (at most :data:`MAX_TRIM` a side) and any pixel still uncovered takes its
    neighbours' mean colour.
    """
    if not pieces:
        raise NSTError("a jigsaw with no pieces cannot be assembled.")
    jigsaw = _Jigsaw(
        [np.asarray(p, dtype=np.float64) for p, _, _ in pieces],
        [(x * width, y * height) for _, x, y in pieces],
    )
    if jigsaw.opaque:
        jigsaw.snap_tiles()
    else:
        jigsaw.solve(jigsaw.pair_offsets())
        while jigsaw.improve_pieces():
            pass
    return jigsaw.picture()


class _Jigsaw:
    """Pieces on a canvas, with the sums over the pieces covering each pixel: alpha, alpha x
    colour, alpha x squared colour."""

    def __init__(self, arrays: list[np.ndarray], centres: list[tuple[float, float]]):
        self.arrays = arrays
        self.terms = []  # per piece: alpha, alpha x colour, alpha x squared colour
        for a in arrays:
            alpha = a[..., 3] / 255.0
            self.terms.append(
                (alpha, alpha[..., None] * a[..., :3], alpha * (a[..., :3] ** 2).sum(-1))
            )
        start = [
            (round(cx - a.shape[1] / 2), round(cy - a.shape[0] / 2))
            for a, (cx, cy) in zip(arrays, centres, strict=True)
        ]
        pad = SEARCH + 2
        x0, y0, x1, y1 = _bounds(start, arrays)
        self.home = [(x - x0 + pad, y - y0 + pad) for x, y in start]
        self.places = list(self.home)
        self.s0 = np.zeros((y1 - y0 + 2 * pad, x1 - x0 + 2 * pad))
        self.s1 = np.zeros((*self.s0.shape, 3))
        self.s2 = np.zeros(self.s0.shape)
        for i in range(len(arrays)):
            self._add(i, self.places[i], 1)
        self.opaque = all(bool((a[..., 3] == 255).all()) for a in arrays)

    def _add(self, i: int, place: tuple[int, int], sign: int) -> None:
        alpha, weighted, squared = self.terms[i]
        x, y = place
        h, w = alpha.shape
        if sign > 0:
            self.s0[y : y + h, x : x + w] += alpha
            self.s1[y : y + h, x : x + w] += weighted
            self.s2[y : y + h, x : x + w] += squared
        else:
            self.s0[y : y + h, x : x + w] -= alpha
            self.s1[y : y + h, x : x + w] -= weighted
            self.s2[y : y + h, x : x + w] -= squared

    def _move(self, moves: dict[int, tuple[int, int]]) -> None:
        for i, place in moves.items():
            self._add(i, self.places[i], -1)
            self._add(i, place, 1)
            self.places[i] = place

    def _allowed(self, i: int, place: tuple[int, int]) -> bool:
        return max(abs(place[0] - self.home[i][0]), abs(place[1] - self.home[i][1])) <= SEARCH

    # -- registration

    def pair_offsets(self) -> list[tuple[int, int, int, int, float]]:
        """For each pair of pieces that share pixels near their places: ``(i, k, dx, dy,
        weight)``, piece ``k``'s place minus piece ``i``'s where their shared pixels agree best,
        weighted by how many they share and how clearly that offset beats the others."""
        found = []
        for i in range(len(self.arrays)):
            for k in range(i + 1, len(self.arrays)):
                offset = self._register(i, k)
                if offset is not None:
                    found.append((i, k, *offset))
        return found

    def _register(self, i: int, k: int) -> tuple[int, int, float] | None:
        a, b = self.arrays[i], self.arrays[k]
        (xa, ya), (xb, yb) = self.home[i], self.home[k]
        ha, wa = a.shape[:2]
        hb, wb = b.shape[:2]
        if xb - xa >= wa + SEARCH or xa - xb >= wb + SEARCH:
            return None
        if yb - ya >= ha + SEARCH or ya - yb >= hb + SEARCH:
            return None
        mask_a, mask_b = a[..., 3] > 127, b[..., 3] > 127
        scores = {}
        for dy in range(-SEARCH, SEARCH + 1):
            for dx in range(-SEARCH, SEARCH + 1):
                ox, oy = xb + dx - xa, yb + dy - ya  # b's corner in a's pixels
                y0, y1 = max(0, oy), min(ha, oy + hb)
                x0, x1 = max(0, ox), min(wa, ox + wb)
                if y1 - y0 < 1 or x1 - x0 < 1:
                    continue
                shared = mask_a[y0:y1, x0:x1] & mask_b[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
                count = int(shared.sum())
                if count < MIN_OVERLAP:
                    continue
                diff = (
                    a[y0:y1, x0:x1, :3][shared]
                    - b[y0 - oy : y1 - oy, x0 - ox : x1 - ox, :3][shared]
                )
                scores[(ox, oy)] = (float((diff**2).mean()), count)
        if len(scores) < 2:
            return None
        ranked = sorted((mse, offset) for offset, (mse, _) in scores.items())
        (best, (ox, oy)), (second, _) = ranked[0], ranked[1]
        clarity = (second + 1) / (best + 1)  # >1: how clearly the best offset wins
        if clarity < 1.5:
            return None
        return ox, oy, scores[(ox, oy)][1] * min(clarity, 10.0)

    def solve(self, offsets: list[tuple[int, int, int, int, float]]) -> None:
        """Move the pieces to the places (in whole pixels, within SEARCH of their own) that
        agree best with ``offsets``, each piece held weakly to its own place."""
        n = len(self.arrays)
        if not offsets:
            return
        prior = 1e-3 * float(np.median([w for *_, w in offsets]))
        rows = np.zeros((len(offsets) + n, n))
        targets = np.zeros((len(offsets) + n, 2))
        weights = np.zeros(len(offsets) + n)
        for r, (i, k, ox, oy, w) in enumerate(offsets):
            rows[r, i], rows[r, k] = -1.0, 1.0
            targets[r] = (ox, oy)
            weights[r] = w
        for i in range(n):
            rows[len(offsets) + i, i] = 1.0
            targets[len(offsets) + i] = self.home[i]
            weights[len(offsets) + i] = prior
        root = np.sqrt(weights)[:, None]
        solution, *_ = np.linalg.lstsq(rows * root, targets * root, rcond=None)
        # the offsets fix the places only up to a shift: shift them so that the piece with the
        # most weight lands on whole pixels, and the others round with it
        anchor = int(np.argmax(np.abs(rows[: len(offsets)]).T @ weights[: len(offsets)]))
        solution -= solution[anchor] - np.rint(solution[anchor])
        moves = {}
        for i, (x, y) in enumerate(np.rint(solution).astype(int).tolist()):
            hx, hy = self.home[i]
            moves[i] = (
                min(max(x, hx - SEARCH), hx + SEARCH),
                min(max(y, hy - SEARCH), hy + SEARCH),
            )
        self._move(moves)

    # -- local refinement

    def _cost(self, region) -> float:
        """The picture's cost, up to a constant outside ``region`` (costs compare only over the
        same region): the colour disagreement where pieces overlap, plus the hole cost of each
        uncovered pixel of the bounding box, minus the reward of each overlapping pixel.

        With ``covered`` the pixels some piece covers, holes = area - covered and overlap =
        (the pieces' total area, a constant) - covered."""
        s0 = self.s0[region]
        spread = self.s2[region] - (self.s1[region] ** 2).sum(-1) / np.maximum(s0, 1e-9)
        disagreement = float(np.where(s0 > 1e-9, spread, 0.0).sum())
        x0, y0, x1, y1 = _bounds(self.places, self.arrays)
        covered = float(np.minimum(s0, 1.0).sum())
        area = (x1 - x0) * (y1 - y0)
        return disagreement + _HOLE_COST * area - (_HOLE_COST - _OVERLAP_REWARD) * covered

    def improve_pieces(self) -> bool:
        """Move each piece by a pixel (of the eight ways) where that lowers the cost most."""
        improved = False
        for i, a in enumerate(self.arrays):
            h, w = a.shape[:2]
            x, y = self.places[i]
            region = (slice(y - 1, y + h + 1), slice(x - 1, x + w + 1))
            best, best_cost = None, self._cost(region) - 1e-6
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    place = (x + dx, y + dy)
                    if place == (x, y) or not self._allowed(i, place):
                        continue
                    self._move({i: place})
                    cost = self._cost(region)
                    self._move({i: (x, y)})
                    if cost < best_cost:
                        best, best_cost = place, cost
            if best is not None:
                self._move({i: best})
                improved = True
        return improved

    def snap_tiles(self) -> None:
        """Opaque rectangular tiles: each tile starts where the tile before it (left of it, above
        it) ends, when its rounded place is within SEARCH of that."""
        for axis in (0, 1):
            order = sorted(range(len(self.arrays)), key=lambda i: self.places[i][axis])
            for i in order:
                ends = [
                    self.places[j][axis] + self.arrays[j].shape[1 - axis]
                    for j in order
                    if j != i and self._beside(i, j, axis)
                ]
                near = [e for e in ends if abs(e - self.places[i][axis]) <= SEARCH]
                if near:
                    place = list(self.places[i])
                    place[axis] = min(near, key=lambda e: (abs(e - self.places[i][axis]), e))
                    self._move({i: (place[0], place[1])})

    def _beside(self, i: int, j: int, axis: int) -> bool:
        """Whether tile ``j`` lies before tile ``i`` along ``axis``, across from it on the
        other axis."""
        other = 1 - axis
        a0 = self.places[i][other]
        a1 = a0 + self.arrays[i].shape[axis]
        b0 = self.places[j][other]
        b1 = b0 + self.arrays[j].shape[axis]
        overlap = min(a1, b1) - max(a0, b0)
        return overlap > min(a1 - a0, b1 - b0) / 2 and self.places[j][axis] < self.places[i][axis]

    def picture(self) -> Assembly:
        x0, y0, x1, y1 = _bounds(self.places, self.arrays)
        s0 = self.s0[y0:y1, x0:x1]
        s1 = self.s1[y0:y1, x0:x1]
        overlap = s0 > 1.5
        spread = self.s2[y0:y1, x0:x1] - (s1**2).sum(-1) / np.maximum(s0, 1e-9)
        seam_rms = float(np.sqrt(spread[overlap].sum() / 3 / max(int(overlap.sum()), 1)))
        top, bottom, left, right = _trim(s0 >= 0.5)
        keep = (slice(top, s0.shape[0] - bottom), slice(left, s0.shape[1] - right))
        covered = s0[keep] >= 0.5
        rgb = _fill(s1[keep] / np.maximum(s0[keep], 1e-9)[..., None], covered)
        image = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")
        moved = sum(p != h for p, h in zip(self.places, self.home, strict=True))
        return Assembly(
            image, moved, int((~covered).sum()), top + bottom + left + right, round(seam_rms, 2)
        )


def _bounds(places, arrays) -> tuple[int, int, int, int]:
    """The bounding box (x0, y0, x1, y1) of pieces at ``places``."""
    return (
        min(p[0] for p in places),
        min(p[1] for p in places),
        max(p[0] + a.shape[1] for p, a in zip(places, arrays, strict=True)),
        max(p[1] + a.shape[0] for p, a in zip(places, arrays, strict=True)),
    )


def _trim(covered: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns to cut off each side (top, bottom, left, right): one line at a time, the
    border line with the most uncovered pixels, at most MAX_TRIM a side."""
    cut = [0, 0, 0, 0]
    while True:
        h, w = covered.shape
        view = covered[cut[0] : h - cut[1], cut[2] : w - cut[3]]
        if view.size == 0:
            return cut[0], cut[1], cut[2], cut[3]
        holes = [int((~line).sum()) for line in (view[0], view[-1], view[:, 0], view[:, -1])]
        sides = [s for s in range(4) if holes[s] and cut[s] < MAX_TRIM]
        if not sides:
            return cut[0], cut[1], cut[2], cut[3]
        cut[max(sides, key=lambda s: (holes[s] / len(view[0] if s < 2 else view[:, 0]), -s))] += 1


def _fill(rgb: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Uncovered pixels take the mean colour of their covered 4-neighbours, outwards in."""
    rgb, covered = rgb.copy(), covered.copy()
    while not covered.all():
        total = np.zeros_like(rgb)
        count = np.zeros(covered.shape)
        for axis, step in ((0, 1), (0, -1), (1, 1), (1, -1)):
            known = np.roll(covered, step, axis)
            values = np.roll(rgb, step, axis)
            edge = [slice(None)] * 2
            edge[axis] = slice(0, 1) if step == 1 else slice(-1, None)
            known[tuple(edge)] = False
            total += np.where(known[..., None], values, 0)
            count += known
        grow = ~covered & (count > 0)
        if not grow.any():  # nothing covered at all
            break
        rgb[grow] = total[grow] / count[grow][:, None]
        covered |= grow
    return rgb


def painting_items(paintings: RccArchive, details: RccArchive, log: Log) -> list[Item]:
    """The paintings jigsaws, assembled, and the Van Gogh paintings of the details activity."""
    items = []
    base = f"{ACTIVITIES_ROOT}/{PAINTINGS}/resource"
    readmes = Readmes(paintings)
    for path in _boards(paintings):
        board = parse_board(paintings.read(path).decode("utf-8", "replace"))
        if not board.pieces:
            continue
        arrays = []
        for piece in board.pieces:
            piece_path = f"{base}/{piece.file}"
            data = paintings.read(piece_path)
            inspect(data, f"{PAINTINGS}.rcc:{piece_path}")
            with Image.open(io.BytesIO(data)) as im:
                arrays.append((np.asarray(im.convert("RGBA")), piece.x, piece.y))
        credits = {readmes.credit(f"{base}/{p.file}")[0] for p in board.pieces}
        credit = credits.pop() if len(credits) == 1 else None
        assembly = assemble_jigsaw(arrays, board.width, board.height)
        out = io.BytesIO()
        assembly.image.save(out, format="PNG", optimize=False)
        item = Item(
            name=safe_name(board.title).lower() or PurePosixPath(path).stem,
            ext="png",
            data=out.getvalue(),
            activity=PAINTINGS,
            origin=f"{PAINTINGS}.rcc:{path}",
            split=HELDOUT,
            credit=credit or Credit(()),
            title=board.title,
            note=(
                f"assembled from {len(board.pieces)} jigsaw pieces ({assembly.moved} moved "
                f"off their rounded places, {assembly.trimmed} border lines trimmed, "
                f"{assembly.filled} px filled; seam RMS {assembly.seam_rms:g})"
            ),
        )
        if credit is None:
            item.reason = "its pieces have no single README entry"
        log(f"corpus:   {item.name}: {item.note}")
        items.append(item)
    base = f"{ACTIVITIES_ROOT}/{DETAILS}/resource"
    readmes = Readmes(details)
    for path in _boards(details):
        board = parse_board(details.read(path).decode("utf-8", "replace"))
        if not board.background:
            continue
        picture = f"{base}/{board.background}"
        credit, _ = readmes.credit(picture)
        if credit is None or DETAILS_PAINTER not in f"{credit.comment} {board.title}".lower():
            continue  # a photograph, not a painting
        suffix = PurePosixPath(picture).suffix.lower().lstrip(".")
        items.append(
            Item(
                name=safe_name(board.title).lower() or PurePosixPath(path).stem,
                ext=suffix,
                data=details.read(picture),
                activity=DETAILS,
                origin=f"{DETAILS}.rcc:{picture}",
                split=HELDOUT,
                credit=credit,
                title=board.title,
                note="the whole picture of a details board",
            )
        )
    return items


def _boards(bundle: RccArchive) -> list[str]:
    """The ``board/boardN_M.qml`` files of a bundle, in the order of N, M."""
    boards = []
    for path in bundle.paths:
        match = re.search(r"/board/board(\d+)(?:_(\d+))?\.qml$", path)
        if match:
            boards.append((int(match.group(1)), int(match.group(2) or 0), path))
    return [path for *_, path in sorted(boards)]


# -- the build


@dataclass
class Seen:
    """Images training must not repeat: held out (``label`` "held-out ") or already kept. A new
    image is one of them if it has the same bytes, the same source, or a difference hash at most
    :data:`NEAR_DUPLICATE_BITS` bits away."""

    label: str = ""
    images: list[tuple[str, str, str, int]] = field(default_factory=list)  # name, sha, source, hash

    def add(self, name: str, sha: str, dh: int, source: str = "") -> None:
        self.images.append((name, sha, source, dh))

    def match(self, sha: str, dh: int, source: str = "") -> str | None:
        for name, other_sha, other_source, _ in self.images:
            if sha == other_sha:
                return f"the same file as {self.label}{name}"
            if source and source == other_source:
                return f"the same source as {self.label}{name}"
        for name, _, _, other in self.images:
            bits = bin(dh ^ other).count("1")
            if bits <= NEAR_DUPLICATE_BITS:
                return f"a near-duplicate of {self.label}{name} ({bits} of 64 hash bits differ)"
        return None


def held_out_images(dirs: Iterable[str | os.PathLike]) -> Seen:
    """The image files of ``dirs`` (not their sub-folders), as held-out images."""
    held = Seen("held-out ")
    for folder in map(Path, dirs):
        if not folder.is_dir():
            raise NSTError(f"held-out image folder {folder} does not exist; fix the path.")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                data = path.read_bytes()
                held.add(str(path), _sha256(data), inspect(data, str(path))[2])
    return held


@dataclass(frozen=True)
class CorpusResult:
    out_dir: Path
    kept: list[Item]
    skipped: list[Item]
    package: Package

    def counts(self) -> dict:
        by = Counter((i.split, i.activity, licence_family(i.credit.licence)) for i in self.kept)
        return {
            "train": sum(i.split == TRAIN for i in self.kept),
            "heldout-style": sum(i.split == HELDOUT for i in self.kept),
            "skipped": len(self.skipped),
            "by_split_activity_licence": [
                {"split": s, "activity": a, "licence_family": f, "images": n}
                for (s, a, f), n in sorted(by.items())
            ],
            "skipped_reasons": dict(
                sorted(Counter(_reason_kind(i.reason) for i in self.skipped).items())
            ),
        }


def build_corpus(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    min_side: int = MIN_SIDE,
    exclude_dirs: Iterable[str | os.PathLike] = (),
    log: Log = print,
) -> CorpusResult:
    """Build the corpus from the package at ``source`` (a ``.deb`` or an unpacked folder) into
    ``out_dir``: see the module's description."""
    out = Path(out_dir)
    log(f"corpus: reading {source}")
    package = open_package(source, [*PHOTO_FOLDERS, PAINTINGS, DETAILS])
    log(f"corpus: {package.name} {package.version or '(version unknown)'}")
    held = held_out_images(exclude_dirs)
    log(f"corpus: {len(held.images)} held-out image(s) from {', '.join(map(str, exclude_dirs))}")

    log("corpus: assembling the paintings")
    paintings = painting_items(package.bundles[PAINTINGS], package.bundles[DETAILS], log)
    for item in paintings:
        _check_image(item, 1, PAINTING_LICENCES)
        if not item.reason:
            held.add(item.file, item.sha256, item.dhash)

    photos = []
    for activity in PHOTO_FOLDERS:
        found = photo_items(package.bundles[activity], activity)
        for item in found:
            _check_image(item, min_side, PHOTO_LICENCES)
            if not item.reason:
                item.reason = held.match(item.sha256, item.dhash) or ""
        photos += found
    # of photographs that repeat each other, the one with the most pixels stays
    placed = Seen()
    for item in sorted(photos, key=lambda i: (-i.width * i.height, i.file)):
        if not item.reason:
            item.reason = placed.match(item.sha256, item.dhash, item.credit.source) or ""
        if not item.reason:
            placed.add(item.file, item.sha256, item.dhash, item.credit.source)
    for activity in PHOTO_FOLDERS:
        found = [i for i in photos if i.activity == activity]
        log(f"corpus: {activity}: {sum(not i.reason for i in found)} of {len(found)} image(s) kept")

    items = sorted(paintings + photos, key=lambda i: (i.split != TRAIN, i.file))
    _check_unique(items)
    kept = [i for i in items if not i.reason]
    skipped = sorted((i for i in items if i.reason), key=lambda i: i.origin)
    result = CorpusResult(out, kept, skipped, package)
    _write(result, min_side, log)
    return result


def _check_image(item: Item, min_side: int, licences: frozenset[str]) -> None:
    """Record the image's size and hash; say why it is left out (if it is)."""
    item.width, item.height, item.dhash = inspect(item.data, item.origin)
    if item.reason:
        return
    family = licence_family(item.credit.licence)
    if family is None:
        item.reason = f"licence not clear: {item.credit.licence or '(none given)'}"
    elif family not in licences:
        item.reason = f"licence {item.credit.licence} ({family}) is not one taken for {item.split}"
    elif min(item.width, item.height) < min_side:
        item.reason = f"too small: {item.width}x{item.height}, shorter side under {min_side} px"


def _check_unique(items: list[Item]) -> None:
    seen: dict[str, str] = {}
    for item in items:
        key = item.file.lower()
        if key in seen:
            raise NSTError(f"{item.origin} and {seen[key]} would both be written to {item.file}.")
        seen[key] = item.origin


def _reason_kind(reason: str) -> str:
    for kind in ("licence", "too small", "same source", "near-duplicate", "same file", "not named"):
        if kind in reason:
            return kind
    return reason


# -- writing


def attribution_rows(items: list[Item]) -> list[dict]:
    return [
        {
            "file": i.file,
            "sha256": i.sha256,
            "width": i.width,
            "height": i.height,
            "author": i.credit.author,
            "licence": i.credit.licence,
            "source": i.credit.source,
            "activity": i.activity,
            "split": i.split,
            "licence_family": licence_family(i.credit.licence) or "",
            "title": i.title,
            "origin": i.origin,
            "note": "; ".join(x for x in (i.credit.comment, i.note) if x),
        }
        for i in items
    ]


def format_csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_attribution(path: str | os.PathLike) -> list[dict]:
    """The rows of an ``attribution.csv`` (sizes as int)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise NSTError(f"cannot read {p} ({exc.strerror}); build the corpus first.") from None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise NSTError(f"{p} is not a corpus attribution table; build the corpus again.")
    rows = list(reader)
    for row in rows:
        row["width"], row["height"] = int(row["width"]), int(row["height"])
    return rows


def _write(result: CorpusResult, min_side: int, log: Log) -> None:
    """The images first, then the tables (a file that already holds its bytes is left alone)."""
    out = result.out_dir
    previous = []
    if (out / "attribution.csv").is_file():
        try:
            previous = read_attribution(out / "attribution.csv")
        except NSTError:
            log(f"corpus: {out / 'attribution.csv'} is unreadable; stale images stay")
    written = sum(_place(out / i.file, i.data) for i in result.kept)
    _remove_stale(out, [row["file"] for row in previous], {i.file for i in result.kept}, log)
    info = {
        "package": result.package.name,
        "version": result.package.version,
        "deb_sha256": result.package.sha256,
        "min_side": min_side,
        "near_duplicate_bits": NEAR_DUPLICATE_BITS,
        "photo_licences": sorted(PHOTO_LICENCES),
        "painting_licences": sorted(PAINTING_LICENCES),
        "counts": result.counts(),
    }
    _place(out / "corpus.json", (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
    skipped = [
        {"origin": i.origin, "activity": i.activity, "reason": i.reason} for i in result.skipped
    ]
    _place(out / "skipped.csv", format_csv(skipped, SKIPPED_COLUMNS).encode())
    _place(out / "attribution.csv", format_csv(attribution_rows(result.kept), COLUMNS).encode())
    log(
        f"corpus: {len(result.kept)} image(s) in {out} ({written} written, "
        f"{len(result.kept) - written} unchanged), {len(result.skipped)} left out (skipped.csv)"
    )


def _place(path: Path, data: bytes) -> bool:
    """Write ``data`` atomically unless the file holds it already; say whether it wrote."""
    if path.is_file() and path.read_bytes() == data:
        return False
    write_bytes(path, data)
    return True


def _remove_stale(out: Path, previous: list[str], current: set[str], log: Log) -> None:
    """Delete the images an earlier build listed that this one does not make (only under
    ``photos/`` and ``paintings/``)."""
    for rel in previous:
        parts = PurePosixPath(rel).parts
        if rel in current or len(parts) != 2 or parts[0] not in ("photos", "paintings"):
            continue
        path = out / rel
        if path.is_file():
            path.unlink()
            log(f"corpus: removed {path}, which this build no longer makes")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = [
    "COLUMNS",
    "Credit",
    "CorpusResult",
    "assemble_jigsaw",
    "build_corpus",
    "credit_for",
    "dhash",
    "licence_family",
    "open_package",
    "parse_board",
    "parse_readme",
    "read_attribution",
]
