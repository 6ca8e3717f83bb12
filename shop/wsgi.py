import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
django.setup(set_prefix=False)  # as django.core.wsgi.get_wsgi_application() does

from shop.core.handler import ShopWSGIHandler  # noqa: E402 - after Django is set up

application = ShopWSGIHandler()

from catalog.search import segment  # noqa: E402

# jieba's dictionary, loaded now rather than in this worker's first search: about a second of
# CPU (docs/benchmark.md, "Issue 12, third session") that the first searcher, and every request
# queued behind it, waited for.
segment("")

from shop.core.warmup import warm_up  # noqa: E402

warm_up()  # the URLconf, template tag libraries and catalogues, also before the first request

from shop.core import gcfreeze  # noqa: E402 - after Django is set up

gcfreeze.install()  # last: the collector leaves what is loaded by now alone
