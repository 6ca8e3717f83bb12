import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from tests.purchase import english


@pytest.fixture
def client():
    """A browser that reads the shop in English, so tests can check its messages."""
    return english(Client())


@pytest.fixture(autouse=True)
def _default_language_afterwards():
    """A request leaves its language active in this thread (Django never resets it): put the
    shop's default back, so that no later test depends on an English page seen before it."""
    yield
    translation.activate(settings.LANGUAGE_CODE)
