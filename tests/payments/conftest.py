"""Alipay's side of the tests: locally generated RSA keys (ours and "Alipay's") and the
settings of a shop that offers Alipay page pay. Written from Alipay's published rules, not
imported from the code under test."""

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

APP_ID = "2021000123456789"
SELLER_ID = "2088101106499364"  # our seller account (PID), as Alipay puts it in seller_id
GATEWAY_URL = "https://openapi.alipay.test/gateway.do"


def key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def rsa2_sign(message: str, private_pem: str) -> str:
    """SHA256withRSA, base64: Alipay's RSA2."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def notification_string(params: dict) -> str:
    """An async notification's signed content: every field but sign and sign_type with a value,
    sorted by name, as k=v joined by &."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type") and params[k] != "")


@pytest.fixture(scope="session")
def keys() -> dict:
    merchant_private, merchant_public = key_pair()
    alipay_private, alipay_public = key_pair()
    return {
        "merchant_private": merchant_private,
        "merchant_public": merchant_public,
        "alipay_private": alipay_private,
        "alipay_public": alipay_public,
    }


@pytest.fixture
def alipay(settings, keys):
    """The shop with Alipay among its payment methods. Returns the keys."""
    settings.ALIPAY = {
        "APP_ID": APP_ID,
        "PRIVATE_KEY": keys["merchant_private"],
        "ALIPAY_PUBLIC_KEY": keys["alipay_public"],
        "GATEWAY_URL": GATEWAY_URL,
        "SELLER_ID": SELLER_ID,
    }
    settings.PAYMENT_PROVIDERS = [*settings.PAYMENT_PROVIDERS, "alipay"]
    return keys
