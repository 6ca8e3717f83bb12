"""Uploads must be real images of bounded size: checked with Pillow before anything is stored."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


def validate_product_image(file) -> None:
    size = getattr(file, "size", None)
    if size is not None and size > settings.CATALOG_IMAGE_MAX_BYTES:
        raise ValidationError(
            _("The image is %(size)d MB; the limit is %(limit)d MB."),
            code="too_large",
            params={"size": size // (1024 * 1024), "limit": settings.CATALOG_IMAGE_MAX_BYTES // (1024 * 1024)},
        )
    try:
        file.seek(0)
        with Image.open(file) as image:
            width, height = image.size
            fmt = image.format
            if width * height > settings.CATALOG_IMAGE_MAX_PIXELS:
                raise ValidationError(
                    _("The image is %(w)d×%(h)d pixels; at most %(limit)d million pixels are accepted."),
                    code="too_many_pixels",
                    params={"w": width, "h": height, "limit": settings.CATALOG_IMAGE_MAX_PIXELS // 1_000_000},
                )
            image.verify()
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValidationError(
            _("This file is not an image we can read (JPEG, PNG, WebP or GIF)."), code="not_an_image"
        ) from exc
    finally:
        file.seek(0)
    if fmt not in ALLOWED_FORMATS:
        raise ValidationError(
            _("Images must be JPEG, PNG, WebP or GIF, not %(format)s."), code="bad_format", params={"format": fmt}
        )
    if min(width, height) < settings.CATALOG_IMAGE_MIN_SIDE:
        raise ValidationError(
            _("The image is %(w)d×%(h)d pixels; each side needs at least %(min)d."),
            code="too_small",
            params={"w": width, "h": height, "min": settings.CATALOG_IMAGE_MIN_SIDE},
        )
