import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
application = get_wsgi_application()

from shop.core import gcfreeze  # noqa: E402 - after Django is set up

gcfreeze.install()  # the collector leaves the process's long-lived objects alone
