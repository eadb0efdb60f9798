"""URL helpers: making links absolute, normalising them for matching, and the per-source dedup key."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

# Query parameters that only say how a reader arrived (campaign, click and share ids): the same
# article with or without them is the same article. `utm_*` is matched as a prefix.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "ysclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "igsh",
        "ref_src",
        "ref_url",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "_openstat",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "vero_conv",
        "wickedid",
        "twclid",
        "ttclid",
        "srsltid",
        "__s",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
WEB_SCHEMES = ("http", "https")


@functools.lru_cache(maxsize=512)
def _web_origin(base: str) -> str | None:
    """ "scheme://netloc" of an http(s) base URL, else None."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in WEB_SCHEMES and parts.netloc else None


def absolute_url(ref: str | None, base: str | None) -> str | None:
    """`ref` resolved against `base`; None unless the result is an http(s) URL."""
    if not ref:
        return None
    ref = ref.strip()
    if ref.startswith(("https://", "http://")) and " " not in ref:  # the usual case, without urljoin's cost
        return ref
    if base and ref.startswith("/") and not ref.startswith("//") and "/." not in ref and "\\" not in ref:
        # "/path": the base's origin plus the path, as urljoin would make it (no dot segments to
        # remove), at a fraction of its cost; feeds are full of these in their HTML.
        origin = _web_origin(base)
        if origin:
            return origin + ref
    try:
        url = urljoin(base, ref) if base else ref
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # e.g. "http://[broken"
        return None
    return url if scheme in WEB_SCHEMES and url.find("://") > 0 else None


def _is_tracking(pair: str) -> bool:
    name = unquote_plus(pair.split("=", 1)[0]).lower()
    return name.startswith("utm_") or name in TRACKING_PARAMETERS


def normalise_url(url: str) -> str:
    """The form two copies of one link share: lower-case scheme and host, no default port, no
    fragment, no tracking parameters, the other parameters sorted. The path keeps its case (servers
    may tell /A from /a). Anything that is not an http(s) URL comes back stripped and otherwise as is.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in WEB_SCHEMES or not parts.hostname:
        return url
    host = parts.hostname  # already lower-case; IPv6 without brackets
    try:
        host = host.encode("idna").decode("ascii")  # one spelling for internationalised names
    except UnicodeError:
        pass
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username is not None:  # keep credentials as written (rare, but they change the resource)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}"
    # Raw pieces are kept (not decoded and re-encoded) so that nothing but the order changes.
    pairs = sorted(pair for pair in parts.query.split("&") if pair and not _is_tracking(pair))
    # "#!/route" fragments name the content on old script-driven sites; other fragments do not.
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((scheme, netloc, parts.path or "/", "&".join(pairs), fragment))


def dedup_key(guid: str | None, link: str | None, title: str, published: datetime | None) -> str:
    """The key an entry is stored under once per source: its guid, else its normalised link, else
    its title and date (pass the feed's own date, or None: never the fetch time, or every fetch
    would look new). A SHA-256 hex digest, 64 characters.
    """
    guid = (guid or "").strip()
    if guid:
        return key_from(guid)
    if link and link.strip():
        return key_from(normalise_url(link))
    return key_from(f"{title}|{published.isoformat() if published else ''}")


def key_from(basis: str) -> str:
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()
