"""Gallery-page scraping for the dataset layer: :func:`scrape_page` turns a gallery page (and
optionally the pages after it) into image URLs, with the licence each page states, fetching the
pages through a polite :class:`nst.dataset.fetcher.Fetcher`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import soupsieve
from bs4 import BeautifulSoup

from nst.dataset.fetcher import HTML_ACCEPT, Fetcher
from nst.errors import DownloadError, SettingsError

# Attributes tried in this order when a page source names none: lazy-loading attributes first,
# because ``src`` of a lazily loaded <img> is usually a placeholder.
AUTO_ATTRIBUTES = ("srcset", "data-srcset", "data-src", "data-original", "data-lazy-src", "src")
AUTO_ATTRIBUTES_LINK = ("href",)
SRCSET_ATTRIBUTES = frozenset({"srcset", "data-srcset"})
OG_IMAGE_PROPERTIES = ("og:image", "og:image:url", "og:image:secure_url")
LICENSE_META_NAMES = frozenset({"license", "dc.rights", "dcterms.rights", "copyright", "rights"})


@dataclass
class PageImage:
    """One image link found on a page, with the page it was found on and its stated licence."""

    url: str
    page_url: str
    license: str = ""


def check_selector(selector: str, what: str) -> None:
    try:
        soupsieve.compile(selector)
    except soupsieve.SelectorSyntaxError as exc:
        first = str(exc).splitlines()[0]
        raise SettingsError(f"{what} {selector!r} is not a valid CSS selector ({first}).") from None


def largest_srcset_candidate(srcset: str) -> str | None:
    """The URL of the largest candidate of a ``srcset`` (width descriptors beat densities)."""
    best, best_key = None, None
    for url, descriptor in _srcset_candidates(srcset):
        if descriptor.endswith("w"):
            key = (1, _number(descriptor[:-1]))
        elif descriptor.endswith("x"):
            key = (0, _number(descriptor[:-1]))
        else:
            key = (0, 1.0)
        if best_key is None or key > best_key:
            best, best_key = url, key
    return best


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _srcset_candidates(srcset: str):
    """Split a srcset per the HTML spec: URLs may contain commas, descriptors end at a comma."""
    pos, n = 0, len(srcset)
    while pos < n:
        while pos < n and (srcset[pos].isspace() or srcset[pos] == ","):
            pos += 1
        start = pos
        while pos < n and not srcset[pos].isspace():
            pos += 1
        url = srcset[start:pos]
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            start = pos
            while pos < n and srcset[pos] != ",":
                pos += 1
            descriptor = srcset[start:pos].strip().split(" ")[0].lower()
        if url:
            yield url, descriptor


def _attribute_value(element, attribute: str | None) -> str | None:
    if attribute:
        names = (attribute,)
    else:
        names = AUTO_ATTRIBUTES_LINK if element.name in ("a", "link") else AUTO_ATTRIBUTES
    for name in names:
        value = element.get(name)
        if isinstance(value, list):
            value = " ".join(value)
        if not value or not value.strip():
            continue
        if name in SRCSET_ATTRIBUTES:
            value = largest_srcset_candidate(value)
            if not value:
                continue
        return value.strip()
    return None


def _http_url(base: str, link: str | None) -> str | None:
    if not link or link.startswith(("data:", "javascript:", "mailto:", "#")):
        return None
    url = urljoin(base, link).split("#")[0]
    return url if urlsplit(url).scheme in ("http", "https") else None


def page_license(soup: BeautifulSoup, selector: str | None = None) -> str:
    """Licence or rights text a page states: the text of the elements ``selector`` finds, else
    Wikimedia Commons templates, ``rel=license`` links and rights meta tags."""
    found: list[str] = []

    def add(text: str | None) -> None:
        text = " ".join((text or "").split())
        if text and text not in found:
            found.append(text)

    for element in soup.select(selector) if selector else ():
        add(element.get_text(" "))
    if found:
        return "; ".join(found)[:500]

    for element in soup.select(".licensetpl_short"):
        add(element.get_text())
    for element in soup.select(".licensetpl_attr"):
        add("attribution: " + element.get_text())
    author = soup.select_one("#fileinfotpl_aut")
    if author is not None and author.find_next_sibling("td") is not None:
        add("author: " + author.find_next_sibling("td").get_text())
    for element in soup.select('a[rel~="license"], link[rel~="license"]'):
        text = element.get_text() if element.name == "a" else ""
        href = element.get("href", "")
        add(f"{text.strip()} <{href}>" if text.strip() and href else text or href)
    for meta in soup.find_all("meta"):
        if str(meta.get("name", "")).lower() in LICENSE_META_NAMES:
            add(meta.get("content"))
    return "; ".join(found)[:500]


def parse_page(
    html: bytes,
    page_url: str,
    *,
    selector: str | None = None,
    attribute: str | None = None,
    next_selector: str | None = None,
    encoding: str | None = None,
    license_selector: str | None = None,
) -> tuple[list[PageImage], str | None]:
    """Image links on one page (``og:image`` when the selector finds none) and the next page."""
    soup = BeautifulSoup(html, "html.parser", from_encoding=encoding)
    base_tag = soup.find("base", href=True)
    base = urljoin(page_url, base_tag["href"]) if base_tag else page_url
    license_text = page_license(soup, license_selector)
    urls: list[str] = []
    for element in soup.select(selector or "img"):
        url = _http_url(base, _attribute_value(element, attribute))
        if url and url not in urls:
            urls.append(url)
    if not urls:
        for prop in OG_IMAGE_PROPERTIES:
            meta = soup.find("meta", attrs={"property": prop}) or soup.find(
                "meta", attrs={"name": prop}
            )
            url = _http_url(base, meta.get("content") if meta else None)
            if url:
                urls.append(url)
                break
    next_url = None
    if next_selector:
        element = soup.select_one(next_selector)
        if element is not None:
            next_url = _http_url(base, element.get("href") or element.get("content"))
    return [PageImage(url, page_url, license_text) for url in urls], next_url


def _charset(content_type: str) -> str | None:
    match = re.search(r"charset=([\w.:-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


def scrape_page(
    fetcher: Fetcher,
    url: str,
    *,
    selector: str | None = None,
    attribute: str | None = None,
    limit: int | None = None,
    next_selector: str | None = None,
    max_pages: int | None = None,
    license_selector: str | None = None,
) -> tuple[list[PageImage], str | None]:
    """Image links of a gallery page and, with ``next_selector``, of up to ``max_pages`` pages.

    Returns the links and the later page that could not be read, if any: a failing first page
    raises :class:`DownloadError`, a failing later page ends the pagination with what was found
    so far.
    """
    if max_pages is None:
        max_pages = 10 if next_selector else 1
    images: list[PageImage] = []
    seen_pages: set[str] = set()
    page: str | None = url
    while page and page not in seen_pages and len(seen_pages) < max_pages:
        seen_pages.add(page)
        try:
            fetched = fetcher.get_once(page, accept=HTML_ACCEPT)
        except DownloadError as exc:
            if page == url:
                raise
            fetcher.log(f"dataset:   pagination stopped: {exc}")
            return images, page
        content_type = fetched.content_type.split(";")[0].strip().lower()
        if content_type.startswith("image/"):
            raise DownloadError(
                f"page {page} is an image ({content_type}), not an HTML page; "
                "list it as a `url:` source instead."
            )
        found, page = parse_page(
            fetched.content,
            fetched.final_url,
            selector=selector,
            attribute=attribute,
            next_selector=next_selector,
            encoding=_charset(fetched.content_type),
            license_selector=license_selector,
        )
        known = {image.url for image in images}
        images.extend(image for image in found if image.url not in known)
        if limit is not None and len(images) >= limit:
            return images[:limit], None
    return images, None
