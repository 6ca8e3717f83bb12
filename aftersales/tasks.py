"""Periodic work of after-sales (Celery beat): deadlines and default reviews."""

from celery import shared_task
