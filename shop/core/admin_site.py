"""The shop's one admin site: each model is registered once, by the app that owns it, and apps
above it *contribute* to that admin; the site composes the class that runs.

Why: an app low in the import order (orders) cannot know what a higher one (fulfillment,
after-sales) shows on its pages, and a higher app unregistering and re-registering a subclass
hid the admin that runs from whoever reads the owner's admin.py. Now the owner registers its
ModelAdmin as usual (``@admin.register(Order)``: ``admin.site`` is this site, made the default by
``shop.core.admin_apps.ShopAdminConfig`` in INSTALLED_APPS), and a higher app says what it adds::

    from shop.core.admin_site import contribute

    contribute(Order, inlines=[OrderShipmentInline], mixins=[OrderShippingMixin],
               actions=["retry_payout"], links=[order_parcels_link])

- ``inlines``: appended to the owner's inlines, in the order the apps' admin modules load
  (INSTALLED_APPS order) unless ``after=`` names an inline class they go after.
- ``mixins``: classes put before the owner's class in the composed class (so their methods
  override the owner's and call ``super()``): extra ``get_urls``, ``save_related``, views.
- ``actions``: names (of methods on a contributed mixin) or functions, after the owner's.
- ``links``: ``link(request, obj) -> (label, url) | None`` — "what staff may do with this
  object", shown as buttons at the top of its change page (the customer's page lists "Adjust
  wallet", "Orders", …). Return None when the user may not follow it. The owner may list its
  own in ``object_links``; templates/admin/change_form_object_tools.html shows them.

The composed class is ``type(name, (*site.model_admin_mixins, *contributed mixins, owner's
class), …)``; ``site.contributions(model)`` lists who added what (``tests/shop/test_admin_site.py``
checks it).

Two hooks for apps above (set them in an ``AppConfig.ready()``):

(a) The index (the admin's first page). ``site.index_template`` (Django's own attribute) and
    ``site.index_context_providers``: a list of ``provider(request) -> dict`` whose dicts are
    merged into the index's context; or ``site.index_view_provider = view(request,
    extra_context)`` to answer the index entirely. Default: Django's index.
(b) ``site.model_admin_mixins``: mixins applied to EVERY ModelAdmin the site composes (first in
    the MRO, so they wrap the owner's and the contributors' methods), e.g. an audit mixin.

Composition is lazy: the first read of the registry (URL loading, checks, a request) after a
change composes again, so append in ``ready()``, before the URL configuration is loaded.
"""

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib import admin
from django.contrib.admin.exceptions import AlreadyRegistered, NotRegistered
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models.base import ModelBase

Link = Callable[..., tuple[str, str] | None]


@dataclass
class Contribution:
    """What one app adds to another app's model admin."""

    source: str  # the contributing module, for the reader
    inlines: list = field(default_factory=list)
    after: type | None = None
    mixins: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    links: list = field(default_factory=list)


class ShopAdminSite(admin.AdminSite):
    def __init__(self, name: str = "admin") -> None:
        self._declared: dict = {}  # model -> the owner's ModelAdmin class
        self._contributed: dict = {}  # model -> [Contribution]
        self._composed: dict = {}  # model -> the ModelAdmin instance that runs
        self._composed_key = None
        self.model_admin_mixins: list[type] = []
        self.index_context_providers: list[Callable] = []
        self.index_view_provider: Callable | None = None
        # listener(request, before) after a staff member changed their own password on the
        # site's page (not a model admin's: the admin log hears of it here).
        self.password_change_listeners: list[Callable] = []
        super().__init__(name)

    # -- registration ------------------------------------------------------------------------

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        admin_class = admin_class or admin.ModelAdmin
        models = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else model_or_iterable
        for model in models:
            if model._meta.abstract:
                raise ImproperlyConfigured(f"The model {model.__name__} is abstract, so it cannot be registered.")
            if model._meta.swapped:
                continue
            if model in self._declared:
                raise AlreadyRegistered(
                    f"The model {model.__name__} is already registered with "
                    f"'{self._declared[model].__module__}.{self._declared[model].__name__}'; "
                    "add to it with shop.core.admin_site.contribute() instead."
                )
            if options:
                options["__module__"] = __name__
                admin_class = type(f"{model.__name__}Admin", (admin_class,), options)
            self._declared[model] = admin_class
        self._composed_key = None

    def unregister(self, model_or_iterable) -> None:
        # Kept for Django's API (and third-party apps); the shop's own code contributes instead.
        models = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else model_or_iterable
        for model in models:
            if model not in self._declared:
                raise NotRegistered(f"The model {model.__name__} is not registered")
            del self._declared[model]
        self._composed_key = None

    def is_registered(self, model) -> bool:
        return model in self._declared

    def contribute(self, model, *, source: str, inlines=(), after=None, mixins=(), actions=(), links=()) -> None:
        self._contributed.setdefault(model, []).append(
            Contribution(
                source=source,
                inlines=list(inlines),
                after=after,
                mixins=list(mixins),
                actions=list(actions),
                links=list(links),
            )
        )
        self._composed_key = None

    def contributions(self, model) -> list[Contribution]:
        return list(self._contributed.get(model, []))

    # -- composition -------------------------------------------------------------------------

    @property
    def _registry(self) -> dict:
        key = (len(self._declared), tuple(self.model_admin_mixins), sum(map(len, self._contributed.values())))
        if key != self._composed_key:
            self._composed = {model: self._compose(model)(model, self) for model in self._declared}
            self._composed_key = key
        return self._composed

    @_registry.setter
    def _registry(self, value: dict) -> None:
        # AdminSite.__init__ starts it empty; autodiscover_modules() puts back the copy it took
        # before an admin module failed to import: keep only the models registered then.
        self._declared = {model: cls for model, cls in self._declared.items() if model in value}
        self._composed_key = None

    def _compose(self, model) -> type:
        base = self._declared[model]
        contributions = self._contributed.get(model, [])
        # The last app to contribute is outermost, like a subclass of a subclass used to be.
        mixins = [m for c in reversed(contributions) for m in c.mixins]
        if any(c.links for c in contributions) or getattr(base, "object_links", None):
            mixins.insert(0, ObjectLinksMixin)
        bases = (*self.model_admin_mixins, *mixins, base)
        if len(bases) == 1 and not contributions:
            return base
        composed = type(base.__name__, bases, {"__module__": base.__module__, "__qualname__": base.__qualname__})
        inlines = list(composed.inlines)
        actions = list(composed.actions or [])
        links = []
        for c in contributions:
            if c.after is not None and c.after in inlines:
                at = inlines.index(c.after) + 1
                inlines[at:at] = c.inlines
            else:
                inlines.extend(c.inlines)
            actions.extend(a for a in c.actions if a not in actions)
            links.extend(c.links)
        composed.inlines = inlines
        if composed.actions is not None or actions:
            composed.actions = actions
        composed.object_links = [*getattr(base, "object_links", []), *links]
        return composed

    def get_model_admin(self, model):
        try:
            return self._registry[model]
        except KeyError:
            raise NotRegistered(f"The model {model.__name__} is not registered.") from None

    def check(self, app_configs):
        errors = super().check(app_configs)
        unknown = [m._meta.label for m in self._contributed if m not in self._declared]
        if unknown:
            message = f"admin contributions to {', '.join(unknown)}, which no app registered"
            errors.append(checks.Error(message, id="shop.E001"))
        return errors

    # -- the index ---------------------------------------------------------------------------

    def password_change(self, request, extra_context=None):
        from django.contrib.auth import get_user_model

        user = request.user
        if request.method != "POST":
            return super().password_change(request, extra_context)
        # The change and what its listeners write (the admin log's record) commit together.
        with transaction.atomic():
            before = get_user_model().objects.filter(pk=user.pk).first()
            response = super().password_change(request, extra_context)
            if before is not None and response.status_code == 302:  # changed: the form redirects
                for listener in self.password_change_listeners:
                    listener(request, before)
        return response

    def index(self, request, extra_context=None):
        context = {}
        for provider in self.index_context_providers:
            context.update(provider(request))
        context.update(extra_context or {})
        if self.index_view_provider is not None:
            return self.index_view_provider(request, context)
        return super().index(request, context)


class ObjectLinksMixin:
    """Shows the contributed ``links`` (and the owner's ``object_links``) on the change page."""

    object_links: list[Link] = []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, admin.utils.unquote(object_id)) if object_id else None
        if obj is not None:
            links = [link(request, obj) for link in self.object_links]
            extra_context.setdefault("object_links", [x for x in links if x])
        return super().change_view(request, object_id, form_url, extra_context)


def contribute(
    model,
    *,
    inlines: Iterable = (),
    after: type | None = None,
    mixins: Iterable[type] = (),
    actions: Iterable = (),
    links: Iterable[Link] = (),
) -> None:
    """Add to the admin another app registered for `model` (see the module's docstring)."""
    caller = sys._getframe(1).f_globals.get("__name__", "?")
    admin.site.contribute(
        model, source=caller, inlines=inlines, after=after, mixins=mixins, actions=actions, links=links
    )
