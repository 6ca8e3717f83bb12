"""Uploaded files are stored under names we generate, never the client's: a path, a second
extension or a customer's name in the upload's name must not reach the storage, and the
extension follows the format found in the file, not the one typed."""

import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from catalog.models import ProductImage, product_image_path
from tests.catalog.support import AdminForm, image_bytes, upload

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"^products/(\d+|new)/[0-9a-f]{32}\.(jpg|png|webp|gif|bin)$")

# client's name, format of the content, expected extension
UPLOADS = {
    "path traversal and a second extension": ("../../evil.php.jpg", "JPEG", "jpg"),
    "a customer's name with a space": ("客户 照片.JPG", "PNG", "png"),  # a PNG named .JPG
    "a WebP named .gif": ("动图.gif", "WEBP", "webp"),
    "a GIF with a script in its name": ("<script>.gif", "GIF", "gif"),
    "an absolute path": ("/etc/passwd.png", "JPEG", "jpg"),
}


def _post_image(staff_client, product, file):
    url = reverse("admin:catalog_product_change", args=[product.pk])
    form = AdminForm(staff_client.get(url).content.decode(), "product_form")
    row = form.add_inline_row("images", alt="front", position="0")
    return staff_client.post(url, form.post_data(**{f"images-{row}-image": file}))


def _stored(media_root):
    return sorted(p.relative_to(media_root).as_posix() for p in media_root.rglob("*") if p.is_file())


@pytest.mark.parametrize("case", UPLOADS)
def test_admin_upload_is_stored_under_a_generated_name(media_root, staff_client, make_product, case):
    client_name, fmt, extension = UPLOADS[case]
    product = make_product(name="上传文件名")
    response = _post_image(staff_client, product, upload(client_name, image_bytes(fmt, (400, 300))))
    assert response.status_code == 302

    image = ProductImage.objects.get(product=product)
    assert GENERATED.match(image.image.name), image.image.name
    assert image.image.name.startswith(f"products/{product.pk}/")
    assert image.image.name.endswith(f".{extension}")
    # Nothing of the client's name anywhere in storage, and nothing outside products/<id>/.
    stored = _stored(media_root)
    assert image.image.name in stored
    assert not any(
        part in name for name in stored for part in ("evil", "php", "客户", "动图", "passwd", "script", "..")
    )
    assert not (media_root.parent / "evil.php.jpg").exists()


def test_saving_through_the_field_ignores_the_given_name_too(media_root, make_product):
    product = make_product()
    image = ProductImage(product=product)
    image.image.save("../../evil.php.jpg", ContentFile(image_bytes("PNG")), save=False)
    assert GENERATED.match(image.image.name) and image.image.name.endswith(".png")
    assert (media_root / image.image.name).is_file()


def test_model_save_with_a_named_file_gets_a_generated_name(media_root, make_product):
    product = make_product()
    image = ProductImage.objects.create(product=product, image=ContentFile(image_bytes("JPEG"), name="我的 照片.php"))
    assert GENERATED.match(image.image.name) and image.image.name.endswith(".jpg")


def test_two_uploads_with_the_same_name_get_different_names(media_root, make_product):
    product = make_product()
    names = {
        ProductImage.objects.create(
            product=product, image=ContentFile(image_bytes("JPEG"), name="front.jpg")
        ).image.name
        for _ in range(2)
    }
    assert len(names) == 2


def test_a_file_that_is_not_an_image_is_stored_as_bin(media_root, make_product):
    """Only reachable without validation (the admin refuses it): still no client extension."""
    product = make_product()
    image = ProductImage(product=product)
    image.image.save("page.html", ContentFile(b"<script>alert(1)</script>"), save=False)
    assert GENERATED.match(image.image.name) and image.image.name.endswith(".bin")


def test_upload_to_keeps_only_a_known_image_extension():
    image = ProductImage(product_id=7)
    assert product_image_path(image, "upload.png").endswith(".png")
    assert product_image_path(image, "evil.php").endswith(".bin")
    assert product_image_path(image, "noextension").endswith(".bin")
    assert GENERATED.match(product_image_path(image, "x.PHP.GIF"))
