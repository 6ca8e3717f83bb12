import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
django.setup(set_prefix=False)  # as django.core.wsgi.get_wsgi_application() does

from shop.core.handler import ShopWSGIHandler  # noqa: E402 - after Django is set up

application = ShopWSGIHandler()

from shop.core import gcfreeze  # noqa: E402 - after Django is set up

gcfreeze.install()  # the collector leaves the process's long-lived objects alone

from catalog.search import segment  # noqa: E402

# jieba's dictionary, loaded now rather than in this worker's first search: about a second of
# CPU (docs/benchmark.md, "Issue 12, third session") that the first searcher, and every request
# queued behind it, waited for.
segment("")
