"""Access tokens: HS256 or RS256 by configuration; expired, forged and confused tokens are refused."""

import base64
import hashlib
import hmac

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aiops_api.auth.tokens import InvalidToken, Role, decode_access_token, issue_access_token
from aiops_api.settings import ApiSettings


@pytest.fixture(scope="module")
def rsa_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture
def rs256(rsa_pem) -> ApiSettings:
    return ApiSettings(jwt_algorithm="RS256", jwt_private_key=rsa_pem[0], jwt_public_key=rsa_pem[1])


def test_rs256_round_trip(rs256) -> None:
    token = issue_access_token(rs256, "ops-bot", Role.operator)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert decode_access_token(rs256, token).role == Role.operator


def test_rs256_refuses_hs256_signed_with_the_public_key(rs256, rsa_pem) -> None:
    # The classic algorithm confusion: the public key used as an HMAC secret.
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    claims = {"sub": "mallory", "role": "admin", "typ": "access", "exp": 4_000_000_000}
    signing_input = b64(orjson.dumps({"alg": "HS256", "typ": "JWT"})) + b"." + b64(orjson.dumps(claims))
    signature = hmac.new(rsa_pem[1].encode(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + b64(signature)).decode()
    with pytest.raises(InvalidToken):
        decode_access_token(rs256, forged)


def test_rs256_requires_both_keys() -> None:
    with pytest.raises(ValueError, match="JWT_PRIVATE_KEY"):
        ApiSettings(jwt_algorithm="RS256")


@pytest.mark.parametrize("make_token", [
    lambda s: issue_access_token(s, "bob", Role.admin, minutes=-1),  # expired
    lambda s: issue_access_token(ApiSettings(jwt_secret="another-secret-" + "x" * 32), "bob", Role.admin),  # forged
    lambda s: jwt.encode({"sub": "bob", "role": "admin", "typ": "access", "exp": 4_000_000_000}, None, algorithm="none"),
    lambda s: jwt.encode({"sub": "bob", "role": "admin", "exp": 4_000_000_000}, s.jwt_secret, algorithm="HS256"),  # no typ
    lambda s: jwt.encode({"sub": "bob", "role": "root", "typ": "access", "exp": 4_000_000_000}, s.jwt_secret,
                         algorithm="HS256"),  # unknown role
])
def test_bad_tokens_are_refused(make_token) -> None:
    settings = ApiSettings()
    with pytest.raises(InvalidToken):
        decode_access_token(settings, make_token(settings))


def test_a_token_verified_once_is_still_refused_under_another_key() -> None:
    """Verified principals are remembered per key: a change of JWT_SECRET refuses the tokens signed before it."""
    settings = ApiSettings()
    token = issue_access_token(settings, "bob", Role.admin)
    assert decode_access_token(settings, token).subject == "bob"
    with pytest.raises(InvalidToken):
        decode_access_token(ApiSettings(jwt_secret="another-secret-" + "x" * 32), token)
