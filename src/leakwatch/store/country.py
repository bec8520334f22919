"""Decide which country a crawled site belongs to: annotation, else ccTLD, else IP address."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from iptocc import country_code

from leakwatch.fetch.urls import is_ip
from leakwatch.models import FetchInfo

CountrySource = Literal["annotation", "tld", "ip"]

# The lookup seam: an IP address (text) to an ISO 3166-1 alpha-2 code, or None. The default is
# `registry_country`; tests inject their own.
IpCountry = Callable[[str], str | None]

# Two-letter TLDs that registrants use as generic names, so they say nothing about the site's
# country (Google's list of "generic ccTLDs" for geotargeting, plus .ai). Chinese-language
# forums and markets are often on .cc or .tv: reading those as Cocos Islands or Tuvalu would
# be wrong far more often than right.
GENERIC_CCTLDS = frozenset(
    {"ad", "ai", "as", "bz", "cc", "cd", "co", "dj", "fm", "io", "la", "me", "ms", "nu", "sc",
     "sr", "su", "tk", "tv", "ws", "eu"}
)  # fmt: skip

# ccTLDs whose ISO code differs from the label.
_CCTLD_ISO = {"uk": "GB"}

# Internationalised ccTLDs of the region (as IDNA A-labels and as written).
_IDN_CCTLDS = {
    "xn--fiqs8s": "CN",  # 中国
    "xn--fiqz9s": "CN",  # 中國
    "xn--j6w193g": "HK",  # 香港
    "xn--kprw13d": "TW",  # 台湾
    "xn--kpry57d": "TW",  # 台灣
    "xn--mix082f": "MO",  # 澳门
    "xn--mix891f": "MO",  # 澳門
    "xn--3e0b707e": "KR",  # 한국
    "xn--yfro4i67o": "SG",  # 新加坡
    "中国": "CN",
    "中國": "CN",
    "香港": "HK",
    "台湾": "TW",
    "台灣": "TW",
    "澳门": "MO",
    "澳門": "MO",
    "한국": "KR",
    "新加坡": "SG",
}


@dataclass(frozen=True, slots=True)
class SiteCountry:
    """A site's country and how it was decided."""

    country: str
    source: CountrySource


def tld_country(host: str) -> str | None:
    """The country of a host name's ccTLD (`bbs.example.cn` -> CN); None for generic TLDs."""
    label = host.strip().rstrip(".").rsplit(".", 1)[-1].lower()
    if label in _IDN_CCTLDS:
        return _IDN_CCTLDS[label]
    if len(label) != 2 or not label.isascii() or not label.isalpha() or label in GENERIC_CCTLDS:
        return None
    return _CCTLD_ISO.get(label, label.upper())


def registry_country(address: str) -> str | None:
    """The country a Regional Internet Registry assigned the address's block to, offline.

    Uses iptocc's embedded RIR delegation data (no network, no data file to download);
    private, loopback, link-local and documentation addresses give None.
    """
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if not ip.is_global:
        return None
    code = country_code(str(ip))
    return code.upper() if code else None


def site_country(fetch: FetchInfo, ip_country: IpCountry = registry_country) -> SiteCountry | None:
    """The targets file's `country=`, else the ccTLD of the site, else the IP address's."""
    if fetch.country and fetch.country.strip():
        return SiteCountry(fetch.country.strip().upper(), "annotation")
    by_tld = tld_country(fetch.site)
    if by_tld is not None:
        return SiteCountry(by_tld, "tld")
    # No address through a proxy; a site given as an IP literal is its own address.
    address = fetch.address or (fetch.site if is_ip(fetch.site.strip("[]")) else None)
    if address:
        by_ip = ip_country(address)
        if by_ip:
            return SiteCountry(by_ip.upper(), "ip")
    return None
