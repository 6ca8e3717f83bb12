"""One password-checking slot and a hasher that records every password check: what the login
refusal tests (P9) and the nasty-input tests (T1) set up to prove a refused login never hashes."""

from django.contrib.auth.hashers import MD5PasswordHasher

from shop.accounts import busy, hashing

PROXY = "10.0.0.2"  # the trusted proxy the test clients come through


class SpyHasher(MD5PasswordHasher):
    algorithm = "spy"
    calls: list[str] = []

    def verify(self, password, encoded):
        SpyHasher.calls.append("verify")
        return super().verify(password, encoded)


def one_spied_slot(settings) -> None:
    """pytest-django's `settings`: passwords checked by SpyHasher, one slot, the busy page
    rendered afresh."""
    settings.PASSWORD_HASHERS = ["tests.shop.login_spy.SpyHasher"]
    settings.TRUSTED_PROXIES = [PROXY]
    settings.LOGIN_CONCURRENT_HASHES = 1
    SpyHasher.calls.clear()
    busy._pages.clear()


def slots_held() -> int:
    client, key = hashing._redis()
    return client.zcard(key)
