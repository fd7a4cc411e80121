"""Authentication the camera checks: WS-UsernameToken on SOAP, HTTP Digest/Basic on snapshots.

Both are pure functions of the request, the camera's credentials and the camera's own
clock, so a drifted clock or a changed password show up exactly as on a real camera.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import datetime

from lxml import etree

from sitewatch.simulators.camera.soap import child_text, not_authorized, qname

PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)
REALM = "sitewatch-camera"


def check_username_token(
    header: etree._Element | None,
    *,
    username: str,
    password: str,
    camera_now: datetime,
    tolerance_s: float,
) -> None:
    """Raise the ter:NotAuthorized fault unless the header carries a valid token.

    PasswordDigest = Base64(SHA1(nonce + created + password)), and `Created` must lie within
    `tolerance_s` of the camera's clock: that is what makes a skewed camera reject a client
    that signs with its own time. PasswordText is accepted as many cameras do.
    """
    token = None if header is None else header.find(f"{qname('wsse:Security')}/{qname('wsse:UsernameToken')}")
    if token is None or child_text(token, "wsse:Username") != username:
        raise not_authorized()
    password_el = token.find(qname("wsse:Password"))
    sent = "" if password_el is None or password_el.text is None else password_el.text.strip()
    created = child_text(token, "wsu:Created")
    if password_el is not None and password_el.get("Type") == PASSWORD_DIGEST:
        nonce_text = child_text(token, "wsse:Nonce")
        if nonce_text is None or created is None:
            raise not_authorized()
        try:
            nonce = base64.b64decode(nonce_text, validate=True)
        except binascii.Error:
            raise not_authorized() from None
        expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
        if not hmac.compare_digest(sent, expected):
            raise not_authorized()
    elif not hmac.compare_digest(sent, password):
        raise not_authorized()
    if created is not None and not _fresh(created, camera_now=camera_now, tolerance_s=tolerance_s):
        raise not_authorized()


def _fresh(created: str, *, camera_now: datetime, tolerance_s: float) -> bool:
    try:
        at = datetime.fromisoformat(created)
    except ValueError:
        return False
    if at.tzinfo is None:  # xs:dateTime without zone: cameras read it as UTC
        at = at.replace(tzinfo=camera_now.tzinfo)
    return abs((at - camera_now).total_seconds()) <= tolerance_s


class HttpAuth:
    """HTTP Digest (RFC 7616, MD5, qop=auth) or Basic, as cameras offer on their snapshot URI.

    Nonces are HMACs of a random value under a per-camera secret, so none need storing.
    """

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(16)

    def challenge(self) -> str:
        salt = secrets.token_hex(8)
        nonce = f"{salt}{self._sign(salt)}"
        return f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{nonce}"'

    def check(self, authorization: str | None, *, method: str, username: str, password: str) -> bool:
        if not authorization:
            return False
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, sent = base64.b64decode(rest.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return user == username and hmac.compare_digest(sent, password)
        if scheme.lower() != "digest":
            return False
        fields = _digest_fields(rest)
        nonce = fields.get("nonce", "")
        if fields.get("username") != username or fields.get("realm") != REALM:
            return False
        if not hmac.compare_digest(nonce[16:], self._sign(nonce[:16])):
            return False
        ha1 = _md5(f"{username}:{REALM}:{password}")
        ha2 = _md5(f"{method}:{fields.get('uri', '')}")
        if fields.get("qop") == "auth":
            parts = (ha1, nonce, fields.get("nc", ""), fields.get("cnonce", ""), "auth", ha2)
        else:  # RFC 2069 clients without qop
            parts = (ha1, nonce, ha2)
        return hmac.compare_digest(fields.get("response", ""), _md5(":".join(parts)))

    def _sign(self, salt: str) -> str:
        return hmac.new(self._secret, salt.encode(), hashlib.sha256).hexdigest()[:32]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _digest_fields(text: str) -> dict[str, str]:
    """key=value and key="quoted, value" pairs of a Digest Authorization header."""
    fields: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " ,":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().lower()
        i = eq + 1
        if i < n and text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            fields[key] = text[i + 1 : end]
            i = end + 1
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            fields[key] = text[i:end].strip()
            i = end
    return fields
