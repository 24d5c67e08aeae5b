"""The one canonical form of an email address: what the portal stores, compares and counts.

Every address that comes in (signup, login, password reset, invitations, allowed domains,
rate-limit keys, admin forms, ensure_admin, a bulk import) goes through `canonical_email`, so
two spellings of one mailbox are one person and two mailboxes are never one:

- the local part is NFKC-normalised (a fullwidth "b" is "b") and must then be ASCII: "alice"
  spelled with a dotless i is refused rather than guessed at, because PostgreSQL's
  case-insensitive matching folds it into "alice"; then it is lower-cased (for ASCII, the same
  as Unicode case folding);
- the domain is mapped by UTS #46 (the `idna` package: "sec.test" spelled with a long s is
  "sec.test") and stored as its A-label ("gmail.com" with a dotless i is "xn--gmal-nza.com", a
  different domain that anyone can register);
- a domain label whose letters come from more than one script (UTS #39 mixed-script
  detection, e.g. a Cyrillic "a" in "apple") is refused. No maintained UTS #39 library installs
  without a compiler (PyICU builds from source), so the resolved script set of UTS #39 section
  5.1 is computed here from the Unicode Script_Extensions data that fontTools ships.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from fontTools import unicodedata as ucd

MAX_LENGTH = 254  # the email columns' length
INVALID = "Enter a valid email address."  # Django's own wording for the same mistake


class AddressRefused(ValueError):
    """The address cannot be one person's address here; `str(self)` is a sentence for them."""


def canonical_email(raw: str) -> str:
    """The canonical form of `raw`, or AddressRefused saying why there is none."""
    text = str(raw).strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise AddressRefused(INVALID)
    local = unicodedata.normalize("NFKC", local)
    if not local.isascii():
        raise AddressRefused(
            "The part before the @ may only use plain Latin letters, digits and . _ - + "
            "(no accented or look-alike letters)."
        )
    address = f"{local.lower()}@{canonical_domain(domain)}"
    try:
        validate_email(address)
    except ValidationError:
        raise AddressRefused(INVALID) from None
    if len(address) > MAX_LENGTH:
        raise AddressRefused(f"That address is longer than {MAX_LENGTH} characters.")
    return address


def canonical_domain(raw: str) -> str:
    """The A-label of a domain after UTS #46 mapping, refusing labels that mix scripts."""
    text = str(raw).strip().rstrip(".")
    try:
        mapped = idna.uts46_remap(text, std3_rules=True, transitional=False)
        a_label = idna.encode(mapped, uts46=False).decode("ascii")
        # Checked on the decoded form, so an A-label typed as such ("xn--pple-43d") is too.
        u_label = idna.decode(a_label)
    except (idna.IDNAError, UnicodeError):
        raise AddressRefused(f"{text!r} is not a domain name that mail can be sent to.") from None
    if not all(_single_script(label) for label in u_label.split(".")):
        raise AddressRefused(
            f"The domain {u_label!r} mixes letters of different alphabets in one part; "
            "type it in one alphabet."
        )
    return a_label


def rate_limit_key(raw: str) -> str:
    """What a per-address rate limit counts: the canonical form, so look-alike spellings of
    bob's address count against bob; text that is no address still counts (folded) as itself."""
    try:
        return canonical_email(raw)
    except AddressRefused:
        return unicodedata.normalize("NFKC", str(raw).strip()).casefold()


# UTS #39 section 5.1: Han-based writing systems are augmented so that Japanese (Han + Hiragana
# + Katakana) and Korean (Han + Hangul) count as one script, as in the standard.
_AUGMENT = {
    "Hani": {"Hanb", "Jpan", "Kore"},
    "Hira": {"Jpan"},
    "Kana": {"Jpan"},
    "Hang": {"Kore"},
    "Bopo": {"Hanb"},
}
_ANY = {"Zyyy", "Zinh"}  # Common and Inherited: compatible with every script


@lru_cache(maxsize=4096)
def _scripts(char: str) -> frozenset[str] | None:
    """The augmented Script_Extensions of `char`; None for Common/Inherited (any script)."""
    scripts = set(ucd.script_extension(char))
    if scripts & _ANY:
        return None
    for script in list(scripts):
        scripts |= _AUGMENT.get(script, set())
    return frozenset(scripts)


def _single_script(label: str) -> bool:
    """True when the label's resolved script set (UTS #39 5.1) is not empty."""
    resolved: set[str] | None = None
    for char in label:
        scripts = _scripts(char)
        if scripts is None:
            continue
        resolved = set(scripts) if resolved is None else resolved & scripts
        if not resolved:
            return False
    return True
