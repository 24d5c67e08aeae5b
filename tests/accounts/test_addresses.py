"""The canonical form of an address (portal/accounts/addresses.py), without a database."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from portal.accounts.addresses import AddressRefused, canonical_domain, canonical_email, rate_limit_key

DOTLESS_I = "\N{LATIN SMALL LETTER DOTLESS I}"
LONG_S = "\N{LATIN SMALL LETTER LONG S}"
CYRILLIC_A = "\N{CYRILLIC SMALL LETTER A}"
KELVIN = "\N{KELVIN SIGN}"


def fullwidth(text: str) -> str:
    """The fullwidth twin of every printable ASCII character (NFKC maps them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("Ann@Example.COM", "ann@example.com"),
        (" ann@example.com. ", "ann@example.com"),
        (fullwidth("bob") + "@sec.test", "bob@sec.test"),
        (f"bob@{LONG_S}ec.test", "bob@sec.test"),
        (f"{KELVIN}im@example.com", "kim@example.com"),
        (f"carol@gma{DOTLESS_I}l.com", "carol@xn--gmal-nza.com"),
        ("bea@MÜNCHEN.de", "bea@xn--mnchen-3ya.de"),
        ("bea@xn--mnchen-3ya.de", "bea@xn--mnchen-3ya.de"),
        ("ann@faß.de", "ann@xn--fa-hia.de"),  # UTS #46 non-transitional: ß stays ß
        ("kei@日本の.jp", "kei@xn--u9ju32nb2a.jp"),  # Han + Hiragana is one script (Japanese)
        ("admin@localhost", "admin@localhost"),
    ],
)
def test_it_maps_every_spelling_of_an_address_to_one_form(typed: str, canonical: str) -> None:
    assert canonical_email(typed) == canonical


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        (f"al{DOTLESS_I}ce@x.test", "may only use plain Latin letters"),
        ("jürgen@example.de", "may only use plain Latin letters"),
        (f"eve@{CYRILLIC_A}pple.com", "mixes letters of different alphabets"),
        ("eve@xn--pple-43d.com", "mixes letters of different alphabets"),  # the same, as an A-label
        ("eve@abc中文.com", "mixes letters of different alphabets"),
        ("eve@xn--zz.com", "not a domain name"),
        ("eve@-x.com", "not a domain name"),
        ("eve@ex ample.com", "not a domain name"),
        ("not an address", "Enter a valid email address."),
        ("@example.com", "Enter a valid email address."),
        ("eve@", "Enter a valid email address."),
        ("a" * 250 + "@example.com", "longer than 254 characters"),
    ],
)
def test_it_refuses_what_has_no_canonical_form_with_a_sentence(typed: str, reason: str) -> None:
    with pytest.raises(AddressRefused, match=reason):
        canonical_email(typed)


def test_it_maps_a_domain_on_its_own_for_the_allowed_domains() -> None:
    assert canonical_domain(f"{LONG_S}ec.test") == "sec.test"
    assert canonical_domain("MÜNCHEN.de.") == "xn--mnchen-3ya.de"
    with pytest.raises(AddressRefused):
        canonical_domain(f"{CYRILLIC_A}pple.com")


def test_it_counts_look_alikes_against_the_same_rate_limit_key() -> None:
    keys = {rate_limit_key(s) for s in ("bob@sec.test", fullwidth("bob@sec.test"), f"BOB@{LONG_S}EC.test")}
    assert keys == {"bob@sec.test"}
    assert rate_limit_key(f" Al{DOTLESS_I}ce@X.test ") == f"al{DOTLESS_I}ce@x.test"  # refused: itself, folded


@settings(deadline=None)  # the first call loads the Unicode tables
@given(st.emails())
@example("Ann@Example.com")
def test_an_ascii_address_is_its_own_lower_case(address: str) -> None:
    try:
        canonical = canonical_email(address)
    except AddressRefused:
        return  # e.g. a top-level domain of digits, which Django's validator refuses too
    assert canonical == address.lower().rstrip(".")


@settings(deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
@example(fullwidth("Bob"), f"{LONG_S}ec.test")
def test_the_canonical_form_is_stable_ascii_and_lower_case(local: str, domain: str) -> None:
    try:
        canonical = canonical_email(f"{local}@{domain}")
    except AddressRefused:
        return
    assert canonical.isascii() and canonical == canonical.lower() and len(canonical) <= 254
    assert canonical_email(canonical) == canonical
    # Any NFKC twin of the same text is the same person.
    assert canonical_email(unicodedata.normalize("NFKC", f"{local}@{domain}")) == canonical
