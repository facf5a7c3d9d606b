"""Qt resource bundles (``.rcc``, the binary format of ``rcc --binary``), read without Qt.

A bundle is a header, a tree of directories and files, a table of names and a block of data, all
big-endian:

- header: the magic ``qres``, the format version (1, 2 or 3) and the offsets of the tree, the
  data and the names; version 3 adds the bundle's flags (which compressions it uses);
- tree: fixed-size nodes (14 bytes; 22 from version 2, which appends the time a file was last
  modified), node 0 the root; a node holds the offset of its name and its flags, then for a
  directory the number of its children and the index of the first (they are consecutive), for a
  file its territory, language and the offset of its data;
- names: a 16-bit length in UTF-16 code units, a 32-bit hash, then the name in UTF-16BE;
- data: a 32-bit length, then the bytes: stored as they are, compressed with zlib the way
  ``qCompress`` does (a 32-bit big-endian length of the uncompressed bytes first), or, from Qt 6,
  a zstd frame.

Zstd needs Python 3.14's :mod:`compression.zstd` or the ``zstandard`` package; a bundle that
needs neither (GCompris 3.1 uses zlib only) opens without them.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from nst.errors import NSTError

MAGIC = b"qres"
VERSIONS = (1, 2, 3)

# node flags (Qt's RCCFileInfo::Flags)
COMPRESSED_ZLIB = 0x01
DIRECTORY = 0x02
COMPRESSED_ZSTD = 0x04


@dataclass(frozen=True)
class RccEntry:
    """One file of a bundle: its path (``a/b/c.png``, no leading ``:/``) and where its data is."""

    path: str
    flags: int
    data_offset: int
    territory: int = 0
    language: int = 0
    last_modified: int = 0  # milliseconds since the epoch; 0 before version 2

    @property
    def compression(self) -> str:
        if self.flags & COMPRESSED_ZSTD:
            return "zstd"
        if self.flags & COMPRESSED_ZLIB:
            return "zlib"
        return "none"


class RccArchive:
    """The files of one ``.rcc`` bundle, by path; :meth:`read` gives a file's bytes."""

    def __init__(self, data: bytes, name: str = "the resource bundle"):
        self.name = name
        self._data = data
        if data[:4] != MAGIC:
            raise NSTError(
                f"{name} is not a Qt resource bundle (.rcc: it does not start with 'qres'); "
                "give a file made by `rcc --binary`."
            )
        self.version, tree, self._data_start, self._names_start = self._unpack(">4I", 4)
        if self.version not in VERSIONS:
            raise NSTError(
                f"{name} is a Qt resource bundle of format version {self.version}, which this "
                f"reader does not know (it reads versions {', '.join(map(str, VERSIONS))})."
            )
        self.flags = self._unpack(">I", 20)[0] if self.version >= 3 else 0
        self._tree_start = tree
        self._node_size = 14 if self.version == 1 else 22
        entries: list[RccEntry] = []
        self._walk(0, "", entries, set())
        self.entries = sorted(entries, key=lambda e: (e.path, e.language, e.territory))
        # a path stored for several locales reads as its default (lowest language) variant
        self._by_path: dict[str, RccEntry] = {}
        for e in self.entries:
            self._by_path.setdefault(e.path, e)

    @classmethod
    def open(cls, path: str | os.PathLike) -> RccArchive:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise NSTError(f"cannot read resource bundle {p} ({exc.strerror}).") from None
        return cls(data, name=str(p))

    def __contains__(self, path: str) -> bool:
        return path in self._by_path

    def __len__(self) -> int:
        return len(self._by_path)

    @property
    def paths(self) -> list[str]:
        return list(self._by_path)

    def entry(self, path: str) -> RccEntry:
        try:
            return self._by_path[path]
        except KeyError:
            raise NSTError(f"{self.name} holds no file {path!r}.") from None

    def read(self, item: str | RccEntry) -> bytes:
        """The bytes of a file (by path or entry), decompressed."""
        entry = self.entry(item) if isinstance(item, str) else item
        (size,) = self._unpack(">I", entry.data_offset)
        raw = self._slice(entry.data_offset + 4, size)
        if entry.compression == "zlib":
            return self._inflate(entry, raw)
        if entry.compression == "zstd":
            return _unzstd(raw, f"{entry.path} in {self.name}")
        return raw

    # -- the tree

    def _walk(self, index: int, prefix: str, out: list[RccEntry], seen: set[int]) -> None:
        if index in seen:
            self._corrupt(f"its tree loops back to node {index}")
        seen.add(index)
        at = self._tree_start + index * self._node_size
        name_offset, flags = self._unpack(">IH", at)
        if index == 0 and not flags & DIRECTORY:
            self._corrupt("its root is not a directory")
        name = "" if index == 0 else self._name(name_offset)
        path = f"{prefix}/{name}" if prefix else name
        if flags & DIRECTORY:
            count, first = self._unpack(">II", at + 6)
            for child in range(first, first + count):
                self._walk(child, path, out, seen)
            return
        territory, language, data_offset = self._unpack(">HHI", at + 6)
        modified = self._unpack(">Q", at + 14)[0] if self.version >= 2 else 0
        out.append(
            RccEntry(path, flags, self._data_start + data_offset, territory, language, modified)
        )

    def _name(self, offset: int) -> str:
        at = self._names_start + offset
        (length,) = self._unpack(">H", at)
        raw = self._slice(at + 6, 2 * length)
        try:
            name = raw.decode("utf-16-be")
        except UnicodeDecodeError:
            self._corrupt(f"a name at offset {offset} is not UTF-16")
        if not name or "/" in name or name in (".", ".."):
            self._corrupt(f"it holds the file name {name!r}")
        return name

    # -- bytes

    def _inflate(self, entry: RccEntry, raw: bytes) -> bytes:
        if len(raw) < 4:
            self._corrupt(f"the compressed data of {entry.path} is cut short")
        (expected,) = struct.unpack(">I", raw[:4])
        try:
            data = zlib.decompress(raw[4:])
        except zlib.error as exc:
            self._corrupt(f"the compressed data of {entry.path} does not inflate ({exc})")
        if len(data) != expected:
            self._corrupt(
                f"{entry.path} inflates to {len(data)} bytes, not the {expected} it announces"
            )
        return data

    def _unpack(self, fmt: str, at: int) -> tuple:
        return struct.unpack(fmt, self._slice(at, struct.calcsize(fmt)))

    def _slice(self, at: int, size: int) -> bytes:
        if at < 0 or at + size > len(self._data):
            self._corrupt(f"it ends at byte {len(self._data)}, before byte {at + size}")
        return self._data[at : at + size]

    def _corrupt(self, why: str) -> NoReturn:
        raise NSTError(
            f"{self.name} is a truncated or corrupt Qt resource bundle ({why}); use an intact copy."
        )


def read_rcc(path: str | os.PathLike) -> RccArchive:
    """The bundle at ``path`` (raises :class:`NSTError` if it is missing or not a bundle)."""
    return RccArchive.open(path)


def _unzstd(raw: bytes, what: str) -> bytes:
    try:
        from compression import zstd  # Python 3.14+
    except ImportError:
        try:
            import zstandard
        except ImportError:
            raise NSTError(
                f"{what} is compressed with zstd, which needs Python 3.14 or the zstandard "
                "package; run `pip install zstandard`."
            ) from None
        try:
            return zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 31)
        except zstandard.ZstdError as exc:
            raise NSTError(f"{what} is corrupt zstd data ({exc}).") from None
    try:
        return zstd.decompress(raw)
    except zstd.ZstdError as exc:
        raise NSTError(f"{what} is corrupt zstd data ({exc}).") from None
