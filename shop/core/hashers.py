"""The password hasher: Argon2id at a cost chosen for this shop, not Django's defaults.

Django's Argon2PasswordHasher asks for 100 MiB, 2 passes and 8 lanes: 0.7–0.9 s per hash on the
benchmark machine (2 cores, busy), and its 8 lanes run on threads, so one login takes every core
of a small web node. PBKDF2 at Django's 1,000,000 iterations cost 1–3 s per check there.

We take OWASP's Password Storage Cheat Sheet minimum for Argon2id ("19 MiB of memory, an
iteration count of 2, and 1 degree of parallelism";
https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html). Measured on the
benchmark machine with argon2-cffi 25.1 (min of 9 runs, docs/benchmark.md "Login"): about 30 ms of
CPU per hash (65–100 ms wall while the machine was shared), where the cheat sheet's equivalent
trade-offs cost 25–30 ms (7 MiB × 5 passes, 9 MiB × 4, 12 MiB × 3) and 46 MiB × 1 about 60 ms.
One lane: a hash is one core's work, so the bound on concurrent hashes
(settings.LOGIN_CONCURRENT_HASHES) is a bound on cores.

The algorithm name stays "argon2", so hashes made by Django's own hasher still verify, and
must_update() compares the parameters: a hash made with other ones (Django's defaults, or ours
before a change here) is rehashed with these at the customer's next login, as is every PBKDF2
hash (PBKDF2 stays listed after this hasher in settings.PASSWORD_HASHERS to verify them).
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class ShopArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB: 19 MiB
    parallelism = 1
