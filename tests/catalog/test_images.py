"""Product images: only real, complete images of bounded size are accepted (directly and
through the admin), nothing of a refused upload is stored, and an accepted upload gets its
three renditions and becomes the product's card image."""

from pathlib import Path

import pytest
from django.conf import settings as conf
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from PIL import Image

from catalog.models import Product, ProductImage
from catalog.validators import validate_product_image
from tests.catalog.support import AdminForm, image_bytes, upload

pytestmark = pytest.mark.django_db

ALIASES_KEY = "catalog.ProductImage.image"


def _truncated(fmt: str) -> bytes:
    data = image_bytes(fmt)
    return data[: len(data) // 2]


# name, bytes, settings to change, error code, words the message must contain
BAD_UPLOADS = {
    "text renamed .jpg": ("notes.jpg", lambda: b"This is a price list, not a photo.\n" * 20, {}, "not_an_image", []),
    "truncated JPEG": ("cut.jpg", lambda: _truncated("JPEG"), {}, "not_an_image", []),
    "truncated PNG": ("cut.png", lambda: _truncated("PNG"), {}, "not_an_image", []),
    "too small": ("tiny.png", lambda: image_bytes("PNG", (99, 400)), {}, "too_small", ["99×400", "100"]),
    "over size": (
        "big.jpg",
        lambda: image_bytes("JPEG", (800, 600)),
        {"CATALOG_IMAGE_MAX_BYTES": 20_000},
        "too_large",
        ["19.5\xa0KB"],  # filesizeformat(20_000): a readable limit
    ),
    "too many pixels": (
        "huge.jpg",
        lambda: image_bytes("JPEG", (800, 600)),
        {"CATALOG_IMAGE_MAX_PIXELS": 100_000},
        "too_many_pixels",
        ["800×600", "100,000"],
    ),
    "BMP": ("scan.bmp", lambda: image_bytes("BMP", (300, 300)), {}, "bad_format", ["BMP"]),
    "TIFF": ("scan.tif", lambda: image_bytes("TIFF", (300, 300)), {}, "bad_format", ["TIFF"]),
}


def _media_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# --- the validator on its own ------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [("photo.jpg", "JPEG"), ("photo.png", "PNG"), ("photo.webp", "WEBP")])
def test_real_images_pass_the_validator(name, fmt):
    validate_product_image(upload(name, image_bytes(fmt)))  # raises if refused


def test_validator_leaves_the_file_rewound_for_storage():
    file = upload("photo.jpg", image_bytes("JPEG"))
    validate_product_image(file)
    assert file.tell() == 0


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_validator_refuses_with_a_clear_message(settings, case):
    name, make, overrides, code, words = BAD_UPLOADS[case]
    for setting, value in overrides.items():
        setattr(settings, setting, value)
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        validate_product_image(upload(name, make()))
    assert refused.value.code == code
    with translation.override("en"):
        message = refused.value.messages[0]
    assert message.endswith(".") and len(message) > 20
    for word in words:
        assert word in message
    assert " 0 MB" not in message and " 0 million" not in message  # limits must read as real numbers


def test_an_image_already_in_storage_is_not_read_again(media_root, make_product):
    """Saving a product re-validates its image rows; a stored file must not be decoded again
    (slow) nor turn a missing file into an error."""
    product = make_product()
    image = ProductImage(product=product)
    image.image.save("front.jpg", ContentFile(image_bytes("JPEG")), save=False)
    Path(image.image.path).unlink()  # gone from storage, e.g. a restored database
    image.full_clean()  # no error, no FileNotFoundError


# --- through the admin product page ------------------------------------------------------


def _change_url(product: Product) -> str:
    return reverse("admin:catalog_product_change", args=[product.pk])


def _post_image(staff_client, product: Product, file, **fields):
    page = staff_client.get(_change_url(product))
    assert page.status_code == 200
    form = AdminForm(page.content.decode(), "product_form")
    row = form.add_inline_row("images", alt=fields.get("alt", "front"), position=str(fields.get("position", 0)))
    return staff_client.post(_change_url(product), form.post_data(**{f"images-{row}-image": file}))


def _inline_errors(response) -> list[str]:
    errors = []
    for inline in response.context["inline_admin_formsets"]:
        for form_errors in inline.formset.errors:
            for messages in form_errors.values():
                errors.extend(messages)
        errors.extend(inline.formset.non_form_errors())
    return errors


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_admin_refuses_a_bad_upload_and_stores_nothing(settings, media_root, staff_client, make_product, case):
    name, make, overrides, _code, words = BAD_UPLOADS[case]
    for setting, value in overrides.items():
        setattr(settings, setting, value)
    product = make_product(name="上传测试")
    response = _post_image(staff_client, product, upload(name, make()))
    assert response.status_code == 200  # the form again, not a redirect and not a 500
    errors = _inline_errors(response)
    assert len(errors) == 1, errors
    for word in words:
        assert word in errors[0]
    assert escape(errors[0]) in response.content.decode()
    assert b"errornote" in response.content
    assert not ProductImage.objects.exists()
    assert _media_files(media_root) == []
    product.refresh_from_db()
    assert product.card_image == ""


def _assert_renditions(image: ProductImage, source_size: tuple[int, int], media_root: Path) -> None:
    aliases = conf.THUMBNAIL_ALIASES[ALIASES_KEY]
    assert set(image.renditions) == {"thumbnail", "listing", "zoom"}
    for name, alias in aliases.items():
        path = media_root / image.renditions[name]
        assert path.is_file(), name
        with Image.open(path) as rendition:
            width, height = rendition.size
        max_w, max_h = alias["size"]
        assert width <= max_w and height <= max_h, (name, rendition.size)
        if alias.get("crop"):
            # cropped renditions fill their box exactly (the sources here are larger)
            assert (width, height) == (max_w, max_h), name
        else:
            # the zoom keeps the proportions and is never blown up
            assert width <= source_size[0] and height <= source_size[1]
            assert abs(width / height - source_size[0] / source_size[1]) < 0.01
            assert max(width, height) == min(max(source_size), max(max_w, max_h))


@pytest.mark.django_db(transaction=True)  # the rendition task runs on commit, for real
@pytest.mark.parametrize(
    ("name", "fmt", "size"), [("front.jpg", "JPEG", (1600, 1200)), ("front.png", "PNG", (640, 480))]
)
def test_admin_upload_builds_renditions_and_card_image(media_root, staff_client, make_product, client, name, fmt, size):
    product = make_product(name="渲染测试")
    response = _post_image(staff_client, product, upload(name, image_bytes(fmt, size), f"image/{fmt.lower()}"))
    assert response.status_code == 302, _inline_errors(response)

    image = ProductImage.objects.get(product=product)
    assert image.image.name.startswith(f"products/{product.pk}/")
    assert (media_root / image.image.name).is_file()
    _assert_renditions(image, size, media_root)
    if fmt == "PNG":
        assert all(path.endswith(".png") for path in image.renditions.values())  # transparency survives

    product.refresh_from_db()
    assert product.card_image == image.renditions["listing"]
    page = client.get(product.get_absolute_url()).content.decode()
    assert image.listing_url in page and image.zoom_url in page
    # the listing shows the new card image too
    assert product.card_image_url in client.get(reverse("catalog:all")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_replacing_an_image_in_the_admin_rebuilds_its_renditions(media_root, staff_client, make_product):
    product = make_product()
    assert _post_image(staff_client, product, upload("old.jpg", image_bytes("JPEG", (800, 600)))).status_code == 302
    old = ProductImage.objects.get(product=product)
    assert old.renditions

    page = staff_client.get(_change_url(product))
    form = AdminForm(page.content.decode(), "product_form")
    new_file = upload("new.png", image_bytes("PNG", (600, 800)), "image/png")
    response = staff_client.post(_change_url(product), form.post_data(**{"images-0-image": new_file}))
    assert response.status_code == 302, _inline_errors(response)

    new = ProductImage.objects.get(pk=old.pk)
    assert new.image.name != old.image.name
    assert new.renditions["listing"] != old.renditions["listing"]
    # built from the new file (stored under a generated name, not the client's "new.png")
    assert all(Path(new.image.name).stem in path for path in new.renditions.values())
    product.refresh_from_db()
    assert product.card_image == new.renditions["listing"]


def test_image_created_in_code_gets_renditions_on_commit(media_root, make_product, django_capture_on_commit_callbacks):
    product = make_product()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        image = ProductImage.objects.create(
            product=product, image=ContentFile(image_bytes("JPEG", (1000, 500)), name="side.jpg")
        )
    assert callbacks, "the rendition task must be queued on commit"
    image.refresh_from_db()
    _assert_renditions(image, (1000, 500), media_root)
    product.refresh_from_db()
    assert product.card_image == image.renditions["listing"]


def test_card_image_is_the_first_image_by_position(media_root, make_product, django_capture_on_commit_callbacks):
    product = make_product()
    with django_capture_on_commit_callbacks(execute=True):
        second = ProductImage.objects.create(
            product=product, position=2, image=ContentFile(image_bytes("JPEG"), name="back.jpg")
        )
    with django_capture_on_commit_callbacks(execute=True):
        first = ProductImage.objects.create(
            product=product, position=1, image=ContentFile(image_bytes("JPEG"), name="front.jpg")
        )
    first.refresh_from_db()
    second.refresh_from_db()
    product.refresh_from_db()
    assert product.card_image == first.renditions["listing"] != second.renditions["listing"]
