from django.conf import settings


def shop(request) -> dict:
    return {"SHOP_CURRENCY": settings.SHOP_CURRENCY, "SHOP_NAME": "Shop"}
