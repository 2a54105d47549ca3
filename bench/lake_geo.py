"""Where the lake benchmark's visitors are: countries with their languages, address blocks,
regions, cities and time zones, as enrichment writes them (:mod:`collector.geo`: ISO 3166-1
country, ISO 3166-2 region ``DE-BE``, English city name, IANA zone)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

# country, continent, languages (most common first), first octets of its IPv4 blocks,
# (region, city, time zone) largest first; Zipf ranks follow this order (after the home country)
COUNTRIES: tuple[tuple[str, str, tuple[str, ...], tuple[int, ...],
                       tuple[tuple[str | None, str, str], ...]], ...] = (
    ("US", "NA", ("en-us", "es-us"), (23, 24, 50, 64, 67, 71, 73, 75, 96, 98, 104, 108), (
        ("US-NY", "New York", "America/New_York"), ("US-CA", "Los Angeles", "America/Los_Angeles"),
        ("US-IL", "Chicago", "America/Chicago"), ("US-TX", "Houston", "America/Chicago"),
        ("US-CA", "San Francisco", "America/Los_Angeles"), ("US-WA", "Seattle", "America/Los_Angeles"),
        ("US-FL", "Miami", "America/New_York"), ("US-GA", "Atlanta", "America/New_York"),
        ("US-CO", "Denver", "America/Denver"), ("US-VA", "Ashburn", "America/New_York"))),
    ("DE", "EU", ("de-de", "en-us", "de"), (77, 79, 84, 87, 91, 93), (
        ("DE-BE", "Berlin", "Europe/Berlin"), ("DE-HH", "Hamburg", "Europe/Berlin"),
        ("DE-BY", "Munich", "Europe/Berlin"), ("DE-NW", "Cologne", "Europe/Berlin"),
        ("DE-HE", "Frankfurt am Main", "Europe/Berlin"), ("DE-BW", "Stuttgart", "Europe/Berlin"))),
    ("GB", "EU", ("en-gb", "en-us"), (81, 86, 90, 92, 109), (
        ("GB-ENG", "London", "Europe/London"), ("GB-ENG", "Manchester", "Europe/London"),
        ("GB-ENG", "Birmingham", "Europe/London"), ("GB-SCT", "Glasgow", "Europe/London"),
        ("GB-SCT", "Edinburgh", "Europe/London"), ("GB-WLS", "Cardiff", "Europe/London"))),
    ("IN", "AS", ("en-in", "en-us", "hi"), (49, 103, 106, 117, 122), (
        ("IN-MH", "Mumbai", "Asia/Kolkata"), ("IN-DL", "Delhi", "Asia/Kolkata"),
        ("IN-KA", "Bengaluru", "Asia/Kolkata"), ("IN-TG", "Hyderabad", "Asia/Kolkata"),
        ("IN-TN", "Chennai", "Asia/Kolkata"))),
    ("FR", "EU", ("fr-fr", "fr", "en-us"), (78, 82, 88, 90), (
        ("FR-IDF", "Paris", "Europe/Paris"), ("FR-ARA", "Lyon", "Europe/Paris"),
        ("FR-PAC", "Marseille", "Europe/Paris"), ("FR-OCC", "Toulouse", "Europe/Paris"))),
    ("JP", "AS", ("ja", "ja-jp"), (60, 110, 126, 133), (
        ("JP-13", "Tokyo", "Asia/Tokyo"), ("JP-27", "Osaka", "Asia/Tokyo"),
        ("JP-14", "Yokohama", "Asia/Tokyo"), ("JP-23", "Nagoya", "Asia/Tokyo"))),
    ("BR", "SA", ("pt-br",), (177, 179, 186, 189, 191, 200), (
        ("BR-SP", "São Paulo", "America/Sao_Paulo"), ("BR-RJ", "Rio de Janeiro", "America/Sao_Paulo"),
        ("BR-MG", "Belo Horizonte", "America/Sao_Paulo"), ("BR-DF", "Brasília", "America/Sao_Paulo"))),
    ("CA", "NA", ("en-ca", "fr-ca", "en-us"), (24, 70, 99, 142), (
        ("CA-ON", "Toronto", "America/Toronto"), ("CA-QC", "Montreal", "America/Toronto"),
        ("CA-BC", "Vancouver", "America/Vancouver"), ("CA-AB", "Calgary", "America/Edmonton"))),
    ("ES", "EU", ("es-es", "es", "ca"), (79, 83, 88, 95), (
        ("ES-MD", "Madrid", "Europe/Madrid"), ("ES-CT", "Barcelona", "Europe/Madrid"),
        ("ES-VC", "Valencia", "Europe/Madrid"), ("ES-AN", "Seville", "Europe/Madrid"))),
    ("IT", "EU", ("it-it", "it"), (79, 87, 93, 151), (
        ("IT-25", "Milan", "Europe/Rome"), ("IT-62", "Rome", "Europe/Rome"),
        ("IT-21", "Turin", "Europe/Rome"), ("IT-72", "Naples", "Europe/Rome"))),
    ("NL", "EU", ("nl", "nl-nl", "en-us"), (77, 83, 145), (
        ("NL-NH", "Amsterdam", "Europe/Amsterdam"), ("NL-ZH", "Rotterdam", "Europe/Amsterdam"),
        ("NL-UT", "Utrecht", "Europe/Amsterdam"))),
    ("AU", "OC", ("en-au", "en-us"), (1, 49, 101, 120), (
        ("AU-NSW", "Sydney", "Australia/Sydney"), ("AU-VIC", "Melbourne", "Australia/Melbourne"),
        ("AU-QLD", "Brisbane", "Australia/Brisbane"), ("AU-WA", "Perth", "Australia/Perth"))),
    ("PL", "EU", ("pl", "pl-pl"), (31, 78, 83, 89), (
        ("PL-MZ", "Warsaw", "Europe/Warsaw"), ("PL-MA", "Kraków", "Europe/Warsaw"),
        ("PL-DS", "Wrocław", "Europe/Warsaw"))),
    ("MX", "NA", ("es-mx", "es-419"), (177, 187, 189, 201), (
        ("MX-CMX", "Mexico City", "America/Mexico_City"), ("MX-JAL", "Guadalajara", "America/Mexico_City"),
        ("MX-NLE", "Monterrey", "America/Monterrey"))),
    ("SE", "EU", ("sv-se", "sv", "en-us"), (78, 81, 94), (
        ("SE-AB", "Stockholm", "Europe/Stockholm"), ("SE-O", "Gothenburg", "Europe/Stockholm"))),
    ("CH", "EU", ("de-ch", "fr-ch", "en-us"), (77, 85, 178), (
        ("CH-ZH", "Zurich", "Europe/Zurich"), ("CH-GE", "Geneva", "Europe/Zurich"),
        ("CH-BE", "Bern", "Europe/Zurich"))),
    ("ID", "AS", ("id", "id-id", "en-us"), (36, 114, 180, 182), (
        ("ID-JK", "Jakarta", "Asia/Jakarta"), ("ID-JI", "Surabaya", "Asia/Jakarta"))),
    ("TR", "AS", ("tr", "tr-tr"), (78, 88, 176), (
        ("TR-34", "Istanbul", "Europe/Istanbul"), ("TR-06", "Ankara", "Europe/Istanbul"))),
    ("KR", "AS", ("ko", "ko-kr"), (1, 14, 112, 175, 211), (
        ("KR-11", "Seoul", "Asia/Seoul"), ("KR-26", "Busan", "Asia/Seoul"))),
    ("AT", "EU", ("de-at", "de"), (62, 80, 84), (
        ("AT-9", "Vienna", "Europe/Vienna"), ("AT-6", "Graz", "Europe/Vienna"))),
    ("BE", "EU", ("nl-be", "fr-be", "fr"), (78, 81, 91), (
        ("BE-BRU", "Brussels", "Europe/Brussels"), ("BE-VAN", "Antwerp", "Europe/Brussels"))),
    ("SG", "AS", ("en-sg", "en-us", "zh-cn"), (27, 116, 118, 175), ((None, "Singapore", "Asia/Singapore"),)),
    ("PH", "AS", ("en-ph", "en-us", "fil"), (49, 112, 120, 124), (
        ("PH-00", "Manila", "Asia/Manila"), ("PH-CEB", "Cebu City", "Asia/Manila"))),
    ("AR", "SA", ("es-ar", "es-419"), (181, 186, 190, 200), (
        ("AR-C", "Buenos Aires", "America/Argentina/Buenos_Aires"),
        ("AR-X", "Córdoba", "America/Argentina/Cordoba"))),
    ("ZA", "AF", ("en-za", "en-us", "af"), (41, 102, 105, 196), (
        ("ZA-GP", "Johannesburg", "Africa/Johannesburg"), ("ZA-WC", "Cape Town", "Africa/Johannesburg"))),
    ("IE", "EU", ("en-ie", "en-gb"), (37, 78, 86, 89), (("IE-L", "Dublin", "Europe/Dublin"),)),
    ("DK", "EU", ("da", "da-dk", "en-us"), (2, 80, 87, 188), (("DK-84", "Copenhagen", "Europe/Copenhagen"),)),
    ("VN", "AS", ("vi", "vi-vn"), (14, 27, 113, 171), (
        ("VN-SG", "Ho Chi Minh City", "Asia/Ho_Chi_Minh"), ("VN-HN", "Hanoi", "Asia/Bangkok"))),
    ("NG", "AF", ("en-ng", "en-us"), (41, 102, 105, 197), (
        ("NG-LA", "Lagos", "Africa/Lagos"), ("NG-FC", "Abuja", "Africa/Lagos"))),
    ("UA", "EU", ("uk", "uk-ua", "ru"), (31, 46, 91, 176), (
        ("UA-30", "Kyiv", "Europe/Kyiv"), ("UA-46", "Lviv", "Europe/Kyiv"))),
)
COUNTRY_ONLY = 0.15  # of a country's visitors: a country-level record, no region or city
_IPV6 = {"NA": "2600", "EU": "2a02", "AS": "2400", "SA": "2800", "OC": "2403", "AF": "2c0f"}


@dataclass(frozen=True, slots=True)
class Place:
    """One geo record as enrichment writes it, and what goes with it."""

    fields: dict[str, Any]  # geo_continent … geo_timezone (the set ones)
    languages: tuple[str, ...]
    octets: tuple[int, int]  # the first two octets of its IPv4 addresses
    ipv6: str  # the first group of its IPv6 /48s


def _set(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}  # given in column order


def places(rng: random.Random) -> list[tuple[str, list[Place], list[float]]]:
    out = []
    for country, continent, languages, firsts, cities in COUNTRIES:
        places, weights = [], []
        for rank, (region, city, zone) in enumerate(cities):
            places.append(Place(_set({"geo_continent": continent, "geo_country": country,
                                         "geo_region": region, "geo_city": city, "geo_timezone": zone}),
                                languages, (rng.choice(firsts), rng.randrange(1, 255)), _IPV6[continent]))
            weights.append((1 - COUNTRY_ONLY) / (rank + 1))
        places.append(Place(_set({"geo_continent": continent, "geo_country": country,
                                     "geo_timezone": cities[0][2]}),
                            languages, (rng.choice(firsts), rng.randrange(1, 255)), _IPV6[continent]))
        weights.append(COUNTRY_ONLY * sum(weights) / (1 - COUNTRY_ONLY))
        out.append((country, places, weights))
    return out


