"""Periodic work of after-sales (Celery beat): deadlines and default reviews."""

