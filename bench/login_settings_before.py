"""bin/bench-login's "before" run (BENCH_LOGIN_BEFORE=1): passwords as before issue 12, Django's
PBKDF2 at its default iterations (1,000,000 in Django 5.2), and no bound on concurrent hashes."""

from shop.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
LOGIN_CONCURRENT_HASHES = 0
