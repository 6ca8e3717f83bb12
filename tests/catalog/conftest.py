import pytest
from django.test import Client


@pytest.fixture
def staff_client(admin_user) -> Client:
    """A signed-in superuser whose admin speaks English, so messages can be asserted.
    Its own Client, so a test can also browse the shop anonymously with `client`."""
    staff = Client(HTTP_ACCEPT_LANGUAGE="en")
    staff.force_login(admin_user)
    return staff


@pytest.fixture
def media_root(settings, tmp_path):
    """Uploads and renditions go to a fresh directory, so a test can see what was written."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root
