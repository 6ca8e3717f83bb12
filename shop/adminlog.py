"""The admin log (管理员日志): every write a staff member makes in the admin, recorded with who,
when, from which address, on which object, what was done and what changed, field by field.

Why a small service of our own rather than django-auditlog, django-simple-history or
django-reversion (docs/architecture.md, "The admin log"): those hook model signals, so they
would run on every customer's checkout too (hot pages have query-count guards), they do not see
the services' queryset.update() and F() writes, and they know nothing of the admin action or
page a change came from. Here the log is written by the admin only:

- ``AdminLogMixin``, which the shop's admin site puts first in every ModelAdmin it composes
  (``site.model_admin_mixins``), records the admin's own saves (with inlines and many-to-many),
  deletions, every list action (each selected object's state before and after) and imports
  (django-import-export's rows), and every custom admin page that acts on one object (its URL
  names it by ``pk``): the object is read before and after the page ran.
- A custom page that acts on no single object (filing a claim, running a month) calls
  ``admin_log_record`` itself; once something is recorded for a request, the mixin's generic
  record for that page is skipped.

tests/shop/test_admin_log.py walks every admin write path and fails on one that leaves no record.
A POST to a page of a ModelAdmin's own (add, change, delete, the change list's actions and
list edits, and every custom page: approve, adjust, receive, run…) runs in one transaction with
its record, so a change rolled back leaves no record and a change committed always has one; the
services' own transactions become savepoints in it, and what they do on commit (mail, tasks,
gateway refunds) waits for the record. The exception: a list action marked
``@admin_action_row_by_row``, whose services commit row by row and whose record follows their
writes. Two kinds are marked: those that call out (shipping parcels makes waybills at the carrier,
"ask the carrier now" polls it), which must not happen inside an open transaction (STYLE.md), and
those whose services lock the rows checkout locks (cancelling orders and re-routing them release
and move stock reservations): held for a whole selection, those locks would stall every checkout
of those variants until the batch ended, and a checkout taking two variants in key order could
deadlock with a batch that met them in the other order.
"""

import hashlib
import ipaddress
from collections.abc import Iterable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, router, transaction
from django.http import HttpRequest
from django.urls import Resolver404, URLPattern, resolve

from shop.core.net import client_ip
from shop.models import AdminLogEntry

Kind = AdminLogEntry.Kind
Snapshot = dict[str, Any]

# Values nobody should read back from a log, not even a superuser.
REDACTED_FIELDS = frozenset({"password"})
# A long text is stored as its start and a digest: enough to see it changed, not a second copy.
LONG_TEXT = 500
# Past this many rows (an action on a whole filtered list), texts are kept shorter still: the
# states of every row are held in memory between before and after.
BULK_ROWS, BULK_TEXT = 1000, 60
CHUNK = 1000
# The URL keyword that names the object a page acts on (ours, Django's, the user admin's).
PK_KWARGS = ("pk", "object_id", "id")
# The page whose POSTs run a list action: in one transaction with its record, but for an action
# marked with admin_action_row_by_row (see the module's docstring).
CHANGELIST = "changelist"

_encoder = DjangoJSONEncoder()


# -- snapshots ------------------------------------------------------------------------------


def _plain(value: Any, limit: int = LONG_TEXT) -> Any:
    """A JSON value for a field's value (texts over `limit` characters cut, with a digest)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > limit:
            digest = hashlib.sha256(value.encode()).hexdigest()[:12]
            return f"{value[:limit]}… [{len(value)} characters, sha256 {digest}]"
        return value
    if isinstance(value, models.Model):
        return _plain(str(value), limit)
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, limit) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, limit) for k, v in value.items()}
    if hasattr(value, "name") and hasattr(value, "storage"):  # a file field's value
        return value.name or ""
    try:
        return _encoder.default(value)  # Decimal, dates, UUID…
    except TypeError:
        return str(value)


def snapshot(obj: models.Model, *, many_to_many: bool = False, limit: int = LONG_TEXT) -> Snapshot:
    """An object's stored fields as JSON values (foreign keys by id), secrets masked; with
    many_to_many, the ids each many-to-many field holds (one query per field)."""
    state = {}
    for field in obj._meta.concrete_fields:
        value = getattr(obj, field.attname)
        if field.name in REDACTED_FIELDS and value:
            # Masked, but a change still shows: a short digest of the stored (already hashed) value.
            state[field.attname] = "•••••• " + hashlib.sha256(str(value).encode()).hexdigest()[:8]
        else:
            state[field.attname] = _plain(value, limit)
    if many_to_many and obj.pk is not None:
        for field in obj._meta.many_to_many:
            state[field.name] = sorted(getattr(obj, field.name).values_list("pk", flat=True))
    return state


def _as_snapshot(value: models.Model | Snapshot | None) -> Snapshot | None:
    return snapshot(value) if isinstance(value, models.Model) else value


def changes_between(before: Snapshot | None, after: Snapshot | None) -> dict[str, list]:
    """{"field": [before, after]} for every field that differs (all of them for an addition or
    a deletion)."""
    before, after = before or {}, after or {}
    names = list(before) + [name for name in after if name not in before]
    return {
        name: [before.get(name), after.get(name)]
        for name in names
        if name not in before or name not in after or before[name] != after[name]
    }


def _load(model: type[models.Model], pks: Iterable, *, many_to_many: bool = False) -> dict[Any, tuple[str, Snapshot]]:
    """{pk: (repr, snapshot)} of the rows that exist, read in chunks."""
    pks = list(pks)
    limit = BULK_TEXT if len(pks) > BULK_ROWS else LONG_TEXT
    found = {}
    for start in range(0, len(pks), CHUNK):
        for obj in model._base_manager.filter(pk__in=pks[start : start + CHUNK]):
            found[obj.pk] = (str(obj)[:200], snapshot(obj, many_to_many=many_to_many, limit=limit))
    return found


def _load_one(model, pk, *, many_to_many: bool = False) -> tuple[str, Snapshot] | None:
    try:
        return _load(model, [pk], many_to_many=many_to_many).get(model._meta.pk.to_python(pk))
    except (ValidationError, ValueError, TypeError):
        return None


# -- the record -----------------------------------------------------------------------------


def _address(request: HttpRequest) -> str | None:
    try:
        return str(ipaddress.ip_address(client_ip(request)))
    except ValueError:
        return None  # no usable address (a test request, a unix socket): recorded as unknown


def _mark(request: HttpRequest, n: int) -> None:
    request._admin_log_count = getattr(request, "_admin_log_count", 0) + n


def _count(request: HttpRequest) -> int:
    return getattr(request, "_admin_log_count", 0)


def admin_log_record(
    *,
    request: HttpRequest,
    action: str,
    obj: models.Model,
    before: models.Model | Snapshot | None,
    after: models.Model | Snapshot | None,
    kind: str | None = None,
    note: str = "",
) -> AdminLogEntry:
    """Record one staff write on `obj`: `before` and `after` are the object (or its snapshot())
    as it was and as it is now; None before for an addition, None after for a deletion.
    `action` names what was done ("add", "approve", "adjust"…); `kind` defaults to the action
    when it is one of Kind's values, else a custom page."""
    if kind is None:
        kind = action if action in Kind.values else Kind.PAGE
    return admin_log_record_many(
        request=request,
        kind=kind,
        action=action,
        model=type(obj),
        rows=[(obj.pk, str(obj), _as_snapshot(before), _as_snapshot(after))],
        note=note,
    )[0]


def admin_log_record_many(
    *, request: HttpRequest, kind: str, action: str, model: type[models.Model], rows, note: str = ""
) -> list[AdminLogEntry]:
    """Record the same write on many objects: rows of (pk, repr, before, after)."""
    changed = [(pk, text, changes_between(before, after)) for pk, text, before, after in rows]
    return _record(request=request, kind=kind, action=action, model=model, rows=changed, note=note)


def _record(*, request, kind, action, model, rows, note="") -> list[AdminLogEntry]:
    """Write the entries: rows of (pk, repr, changes)."""
    user = request.user
    common = {
        "actor": user if user.is_authenticated else None,
        "actor_email": getattr(user, "email", "") or str(user),
        "ip": _address(request),
        "kind": kind,
        "action": action[:60],
        "content_type": ContentType.objects.get_for_model(model, for_concrete_model=False),
        "note": note,
        "path": request.path[:300],
    }
    entries = [
        AdminLogEntry(**common, object_pk=str(pk), object_repr=str(text)[:200], changes=changes)
        for pk, text, changes in rows
    ]
    AdminLogEntry.objects.bulk_create(entries, batch_size=500)
    _mark(request, len(entries))
    return entries


def _queued(request: HttpRequest) -> list:
    """The messages added for the user during this request (not yet shown)."""
    return list(getattr(getattr(request, "_messages", None), "_queued_messages", []))


def _said(request: HttpRequest, since: int) -> tuple[str, bool]:
    """What the admin told the user since message `since`, and whether any of it was a refusal."""
    new = _queued(request)[since:]
    return "\n".join(str(m.message) for m in new)[:2000], any(m.level >= messages.WARNING for m in new)


# -- the mixin ------------------------------------------------------------------------------


class AdminLogMixin:
    """Records every write made through a ModelAdmin (see the module's docstring). First in the
    MRO, so it wraps the owner's and the contributors' methods."""

    def _logging(self, request) -> bool:
        # Inside a list action the action's record (by snapshots) covers the saves it makes.
        return not getattr(request, "_admin_log_in_action", False)

    # -- add, change (also list_editable), delete ----------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Read before the form is saved: some forms write in save_form already (treebeard's
        # move form saves and moves the node there), before save_model runs.
        if request.method == "POST" and object_id is not None and self._logging(request):
            found = _load_one(self.model, unquote(object_id), many_to_many=True)
            if found is not None:
                request._admin_log_before = found[1]
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        if self._logging(request) and not hasattr(request, "_admin_log_before"):  # list_editable's rows
            found = _load_one(type(obj), obj.pk, many_to_many=True) if change and obj.pk is not None else None
            request._admin_log_before = found[1] if found else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if not self._logging(request):
            return
        obj = form.instance
        before = request.__dict__.pop("_admin_log_before", None)
        if not change:
            before = None  # "save as new": the form came from another object, this one is new
        found = _load_one(type(obj), obj.pk, many_to_many=True)
        after = found[1] if found else snapshot(obj)
        changes = changes_between(before, after)
        for formset in formsets:
            changes.update(_inline_changes(formset))
        kind = Kind.CHANGE if change else Kind.ADD
        _record(request=request, kind=kind, action=kind, model=type(obj), rows=[(obj.pk, str(obj), changes)])

    def delete_model(self, request, obj) -> None:
        before = snapshot(obj, many_to_many=True) if self._logging(request) else None
        pk, text = obj.pk, str(obj)
        super().delete_model(request, obj)
        if before is not None:
            admin_log_record_many(
                request=request, kind=Kind.DELETE, action=Kind.DELETE, model=type(obj), rows=[(pk, text, before, None)]
            )

    def delete_queryset(self, request, queryset) -> None:
        if not self._logging(request):  # delete_selected: recorded by the action
            return super().delete_queryset(request, queryset)
        before = _load(queryset.model, queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        rows = [(pk, text, state, None) for pk, (text, state) in before.items()]
        admin_log_record_many(request=request, kind=Kind.DELETE, action=Kind.DELETE, model=queryset.model, rows=rows)

    # -- list actions ---------------------------------------------------------------------

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {
            name: (_recorded_action(func, name), name_, description)
            for name, (func, name_, description) in actions.items()
        }

    # -- custom pages ---------------------------------------------------------------------

    def get_urls(self):
        urls = super().get_urls()
        opts = self.model._meta
        prefix = f"{opts.app_label}_{opts.model_name}_"
        for pattern in urls:
            if isinstance(pattern, URLPattern) and pattern.name:
                pattern.callback = _recorded_page(self, pattern.callback, pattern.name.removeprefix(prefix))
        return urls

    # -- imports (django-import-export) ---------------------------------------------------

    def process_result(self, result, request):
        response = super().process_result(result, request)
        by_model: dict[type, list] = {}
        for row in result.valid_rows():
            if row.import_type not in ("new", "update", "delete") or row.instance is None:
                continue
            before = snapshot(row.original) if row.original is not None and row.import_type != "new" else None
            after = None if row.import_type == "delete" else snapshot(row.instance)
            pk = row.object_id if row.object_id is not None else row.instance.pk
            by_model.setdefault(type(row.instance), []).append(
                (pk, row.object_repr or str(row.instance), before, after)
            )
        for model, rows in by_model.items():
            admin_log_record_many(request=request, kind=Kind.IMPORT, action=Kind.IMPORT, model=model, rows=rows)
        return response


def _inline_changes(formset) -> dict[str, list]:
    """An inline's additions, edits (field by field) and deletions, keyed "prefix[row].field"."""
    changes = {}
    if not hasattr(formset, "new_objects"):  # not saved (the parent's form was)
        return changes
    for obj in formset.new_objects:
        changes[f"{formset.prefix}[{obj}]"] = [None, snapshot(obj)]
    for obj, fields in formset.changed_objects:
        form = next((f for f in formset.initial_forms if f.instance.pk == obj.pk), None)
        for name in fields:
            before = form.initial.get(name) if form is not None else None
            after = form.cleaned_data.get(name) if form is not None else getattr(obj, name, None)
            changes[f"{formset.prefix}[{obj}].{name}"] = [_plain(before), _plain(after)]
    for obj in formset.deleted_objects:
        changes[f"{formset.prefix}[{obj}]"] = [snapshot(obj), None]
    return changes


def _recorded_action(func, name: str):
    """An admin action that records, for each selected object it changed (or deleted), its state
    before and after. An action that finished (returned no page of its own) without a refusal
    but changed none of the rows it was given (a digest mailed, a message sent) is recorded on
    each of them, unchanged: the log says who did it."""

    @wraps(func)
    def run(model_admin, request, queryset):
        if getattr(request, "_admin_log_in_action", False):
            return func(model_admin, request, queryset)
        model = queryset.model
        before = _load(model, queryset.values_list("pk", flat=True))
        recorded, said = _count(request), len(_queued(request))
        request._admin_log_in_action = True
        try:
            response = func(model_admin, request, queryset)
        finally:
            request._admin_log_in_action = False
        if _count(request) > recorded:  # the action recorded what it did itself
            return response
        after = _load(model, before)
        note, refused = _said(request, said)
        changed = {pk for pk, (_text, state) in before.items() if pk not in after or after[pk][1] != state}
        if not changed and response is None and not refused:
            changed = set(before)
        rows = [
            (pk, text, state, after[pk][1] if pk in after else None)
            for pk, (text, state) in before.items()
            if pk in changed
        ]
        deleted = [row for row in rows if row[3] is None]
        kept = [row for row in rows if row[3] is not None]
        if deleted:
            admin_log_record_many(request=request, kind=Kind.DELETE, action=name, model=model, rows=deleted, note=note)
        if kept:
            admin_log_record_many(request=request, kind=Kind.ACTION, action=name, model=model, rows=kept, note=note)
        return response

    return run


def _recorded_page(model_admin, view, name: str):
    """An admin page that, on a POST, records the object its URL names: read before and after
    the page ran; recorded when it changed, or when the page finished with a redirect and no
    refusal. Skipped when something was recorded during the request already (the admin's own
    save and delete, an import, a page that records itself). The page and its record share one
    transaction, but for the changelist's actions (the module's docstring)."""

    @wraps(view)
    def page(request, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        if name == CHANGELIST and _action_row_by_row(model_admin, request):
            return recorded(request, *args, **kwargs)
        # The primary's: every admin write goes there (shop.core.dbrouter), and so does the log.
        with transaction.atomic(using=router.db_for_write(model_admin.model)):
            return recorded(request, *args, **kwargs)

    def recorded(request, *args, **kwargs):
        model = model_admin.model
        if name == "add":
            return _recorded_addition(model, view, request, *args, **kwargs)
        raw = next((kwargs[key] for key in PK_KWARGS if key in kwargs), None)
        pk = unquote(str(raw)) if raw is not None else None
        before = _load_one(model, pk, many_to_many=True) if pk is not None else None
        recorded, said = _count(request), len(_queued(request))
        response = view(request, *args, **kwargs)
        if before is None or _count(request) > recorded or response.status_code >= 400:
            return response
        after = _load_one(model, pk, many_to_many=True)
        note, refused = _said(request, said)
        changed = after is None or after[1] != before[1]
        if changed or (300 <= response.status_code < 400 and not refused):
            text = after[0] if after else before[0]
            kind = Kind.DELETE if after is None else Kind.PAGE
            try:
                obj_pk = model._meta.pk.to_python(pk)
            except ValidationError:
                obj_pk = pk
            admin_log_record_many(
                request=request,
                kind=kind,
                action=name,
                model=model,
                rows=[(obj_pk, text, before[1], after[1] if after else None)],
                note=note,
            )
        return response

    return page


def admin_action_row_by_row(func):
    """Mark a list action that calls a carrier or a gateway itself, or whose services lock rows
    that checkout locks (orders, stock): it is run, and recorded, with no transaction around it
    (its services commit row by row), so no row stays locked for the whole selection or while a
    call is waited on. Put it above @admin.action."""
    func.admin_log_row_by_row = True
    return func


def _action_row_by_row(model_admin, request: HttpRequest) -> bool:
    """Whether the change list's POST runs an action marked with admin_action_row_by_row."""
    name = request.POST.get("action")
    if not name:
        return False  # list edits, or a search: one transaction
    found = model_admin.get_actions(request).get(name)
    return bool(found and getattr(found[0], "admin_log_row_by_row", False))


def _recorded_addition(model, view, request, *args, **kwargs):
    """An add page that does not save through save_model (a service files the object, say):
    the object is the one whose change page it redirects to."""
    recorded = _count(request)
    response = view(request, *args, **kwargs)
    if _count(request) > recorded or not 300 <= response.status_code < 400:
        return response
    try:
        match = resolve(urlsplit(response["Location"]).path)
    except (Resolver404, KeyError):
        return response
    opts = model._meta
    if match.url_name == f"{opts.app_label}_{opts.model_name}_change":
        found = _load_one(model, unquote(match.kwargs.get("object_id", "")), many_to_many=True)
        if found is not None:
            pk = model._meta.pk.to_python(unquote(match.kwargs["object_id"]))
            _record(
                request=request, kind=Kind.ADD, action=Kind.ADD, model=model,
                rows=[(pk, found[0], changes_between(None, found[1]))],
            )  # fmt: skip
    return response


__all__ = [
    "AdminLogMixin",
    "Kind",
    "admin_action_row_by_row",
    "admin_log_record",
    "admin_log_record_many",
    "changes_between",
    "snapshot",
]


def password_changed(request: HttpRequest, before) -> None:
    """A staff member changed their own password on the admin site's page (the site calls
    this): recorded like any write, the password as digests of its hashes."""
    user = type(before).objects.get(pk=before.pk)
    admin_log_record(request=request, action="password_change", obj=user, before=before, after=user)
