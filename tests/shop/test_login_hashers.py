"""Issue 12: passwords are hashed with Argon2id at a stated cost (OWASP's minimum: 19 MiB, 2 passes,
1 lane), and older hashes (PBKDF2, or Argon2 with other parameters) still verify and are rehashed
at their owner's next login. Few real hashes here: the parameters are checked by settings."""

import importlib

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher, identify_hasher
from django.test import Client

from shop.core.hashers import ShopArgon2PasswordHasher
from tests import factories
from tests.purchase import english

User = get_user_model()
PASSWORD = "correct horse battery staple"
PRODUCTION_HASHERS = importlib.import_module("shop.settings").PASSWORD_HASHERS  # not the tests' MD5


def test_argon2id_first_at_owasps_minimum_then_pbkdf2_for_old_hashes():
    assert PRODUCTION_HASHERS[0] == "shop.core.hashers.ShopArgon2PasswordHasher"
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" in PRODUCTION_HASHERS[1:]
    hasher = ShopArgon2PasswordHasher()
    # OWASP Password Storage Cheat Sheet: "a minimum configuration of 19 MiB of memory, an
    # iteration count of 2, and 1 degree of parallelism".
    assert (hasher.memory_cost, hasher.time_cost, hasher.parallelism) == (19 * 1024, 2, 1)
    assert hasher.algorithm == "argon2"  # Django's Argon2 hashes still verify
    assert hasher.params().type.name == "ID"  # Argon2id


@pytest.mark.django_db
@pytest.mark.parametrize(
    "old_hash",
    [
        # PBKDF2 as Django made them before (few iterations here, to keep the test fast).
        lambda: PBKDF2PasswordHasher().encode(PASSWORD, "seasalt2024", iterations=1000),
        # Argon2 with other parameters than ours (the cheapest there are).
        lambda: type("Cheap", (Argon2PasswordHasher,), {"time_cost": 1, "memory_cost": 8, "parallelism": 1})().encode(
            PASSWORD, "seasalt2024"
        ),
    ],
    ids=["pbkdf2", "argon2-other-parameters"],
)
def test_an_old_hash_verifies_and_is_rehashed_with_ours_at_login(settings, old_hash):
    user = factories.UserFactory(email="li.lei@example.com")  # the tests' MD5, replaced below
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    settings.LOGIN_CONCURRENT_HASHES = 1
    User.objects.filter(pk=user.pk).update(password=old_hash())

    client = english(Client())
    assert client.post("/account/login/", {"username": user.email, "password": PASSWORD}).status_code == 302

    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert isinstance(identify_hasher(user.password), ShopArgon2PasswordHasher)
    assert user.check_password(PASSWORD)
    assert not ShopArgon2PasswordHasher().must_update(user.password)
