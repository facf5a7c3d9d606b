"""The dataset: the images (and clips) an experiment starts from, fetched, checked and recorded.

- :mod:`.config`: the ``dataset`` section of a config, checked (:func:`check_dataset`);
- :mod:`.schema`: the shipped JSON schema of config sections, and its one-sentence errors;
- :mod:`.sources`: the ``sources`` entries, validated into :class:`Source` (:func:`parse_sources`);
- :mod:`.run`: :func:`fetch_dataset`, one fetch from sources to files and manifest, which uses
  :mod:`.candidates` (sources expanded into the images they point at), :mod:`.obtain` (their
  bytes: local, cached or downloaded, and checked), :mod:`.media` (images or clips),
  :mod:`.names` (safe, unique names), :mod:`.outputs` (files written, stale ones removed);
- :mod:`.manifest`: the record of a fetch (:func:`read_manifest`);
- :mod:`.fetcher`: the polite HTTP client; :mod:`.scrape`: gallery pages; :mod:`.cache`: the
  download cache and its memory of failures;
- :mod:`.prepare`: a fetched image made ready for transfer (:func:`prepare_image`);
- :mod:`.rcc` (Qt resource bundles) and :mod:`.corpus`: the licensed training photographs and
  held-out paintings of GCompris's Debian package (``resources/corpus/build_corpus.py``).

The names below are offered here without importing their modules until used.
"""

from nst.lazy import exports

__getattr__, __dir__ = exports(
    "nst.dataset",
    {
        "DatasetConfig": "nst.dataset.config",
        "check_dataset": "nst.dataset.config",
        "load_dataset_config": "nst.dataset.config",
        "Source": "nst.dataset.sources",
        "parse_sources": "nst.dataset.sources",
        "fetch_dataset": "nst.dataset.run",
        "MANIFEST_COLUMNS": "nst.dataset.manifest",
        "read_manifest": "nst.dataset.manifest",
        "prepare_image": "nst.dataset.prepare",
    },
)
