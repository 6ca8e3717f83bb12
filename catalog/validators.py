"""Uploads must be real images of bounded size: checked with Pillow before anything is stored."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


def validate_product_image(file) -> None:
    """Refuse anything but a complete JPEG, PNG, WebP or GIF within the size limits.

    Raises ValidationError with code too_large, not_an_image, bad_format, too_many_pixels
    or too_small. A file already in storage (re-validated whenever its row is saved) was
    checked when it was uploaded and is not read again."""
    if getattr(file, "_committed", False):
        # A stored FieldFile: re-reading it would decode every image of a product each time
        # staff save the product, and a file missing from storage would turn into a 500.
        return
    size = getattr(file, "size", None)
    if size is not None and size > settings.CATALOG_IMAGE_MAX_BYTES:
        raise ValidationError(
            _("The image is %(size)s; the limit is %(limit)s."),
            code="too_large",
            params={"size": filesizeformat(size), "limit": filesizeformat(settings.CATALOG_IMAGE_MAX_BYTES)},
        )
    try:
        file.seek(0)
        with Image.open(file) as image:
            width, height = image.size
            fmt = image.format
            if fmt not in ALLOWED_FORMATS:
                raise ValidationError(
                    _("Images must be JPEG, PNG, WebP or GIF, not %(format)s."),
                    code="bad_format",
                    params={"format": fmt},
                )
            if width * height > settings.CATALOG_IMAGE_MAX_PIXELS:
                raise ValidationError(
                    _("The image is %(w)d×%(h)d pixels; at most %(limit)s pixels are accepted."),
                    code="too_many_pixels",
                    params={"w": width, "h": height, "limit": f"{settings.CATALOG_IMAGE_MAX_PIXELS:,}"},
                )
            image.verify()
        # verify() reads the structure only: a JPEG cut short passes it and would fail later
        # in the rendition task. Decoding the pixels (bounded by the checks above) catches it.
        file.seek(0)
        with Image.open(file) as image:
            image.load()
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValidationError(
            _("This file is not an image we can read (JPEG, PNG, WebP or GIF)."), code="not_an_image"
        ) from exc
    finally:
        file.seek(0)
    if min(width, height) < settings.CATALOG_IMAGE_MIN_SIDE:
        raise ValidationError(
            _("The image is %(w)d×%(h)d pixels; each side needs at least %(min)d."),
            code="too_small",
            params={"w": width, "h": height, "min": settings.CATALOG_IMAGE_MIN_SIDE},
        )
