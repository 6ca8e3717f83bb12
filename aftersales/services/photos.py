"""Customer photos (after-sales evidence, review pictures): checked like product images, then
re-encoded, so what is stored is pixels we wrote ourselves: no metadata (a phone's GPS position,
the camera's serial), no trailing payload, no larger than AFTERSALES_PHOTO_MAX_SIDE."""

import io

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageOps

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from catalog.validators import validate_product_image


def photo_reencode(upload) -> ContentFile:
    """One uploaded file → a clean JPEG (or PNG when it has transparency). Raises
    ValidationError (with the validator's message) for anything that is not a readable image
    within the byte and pixel limits."""
    size = getattr(upload, "size", None)
    if size is not None and size > settings.AFTERSALES_PHOTO_MAX_BYTES:
        raise ValidationError(
            "%(size)s > %(limit)s",
            code="too_large",
            params={"size": filesizeformat(size), "limit": filesizeformat(settings.AFTERSALES_PHOTO_MAX_BYTES)},
        )
    validate_product_image(upload)
    upload.seek(0)
    with Image.open(upload) as image:
        image = ImageOps.exif_transpose(image)  # phones store the rotation in metadata we drop
        image.thumbnail((settings.AFTERSALES_PHOTO_MAX_SIDE, settings.AFTERSALES_PHOTO_MAX_SIDE))
        out = io.BytesIO()
        if (image.mode in ("RGBA", "LA", "P") and "transparency" in image.info) or image.mode in ("RGBA", "LA"):
            image.convert("RGBA").save(out, "PNG", optimize=True)
            name = "photo.png"
        else:
            image.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
            name = "photo.jpg"
    return ContentFile(out.getvalue(), name=name)


def photos_clean(uploads) -> list[ContentFile]:
    """Check and re-encode up to AFTERSALES_MAX_PHOTOS uploads, all or none. Raises
    AfterSaleError(TOO_MANY_PHOTOS or BAD_PHOTO, naming the photo and what is wrong)."""
    uploads = [u for u in uploads if u]
    if len(uploads) > settings.AFTERSALES_MAX_PHOTOS:
        raise AfterSaleError(AfterSaleErrorCode.TOO_MANY_PHOTOS, n=settings.AFTERSALES_MAX_PHOTOS)
    cleaned = []
    for n, upload in enumerate(uploads, start=1):
        try:
            cleaned.append(photo_reencode(upload))
        except ValidationError as exc:
            raise AfterSaleError(AfterSaleErrorCode.BAD_PHOTO, n=n, error=" ".join(exc.messages)) from exc
    return cleaned
