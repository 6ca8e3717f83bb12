"""The Celery application: configured from Django settings under the CELERY_ namespace."""

import os

from celery import Celery

from shop.core import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

# Before any broker connection: "redis://" resolves to the transport that keeps its publishing
# client (shop/core/broker.py), in the web processes and the workers alike.
broker.install()

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
