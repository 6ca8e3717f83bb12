"""Fuzz every customer URL and form with NUL bytes and other nasty text: nothing answers 5xx.

The URLs come from the resolver (everything but the admin and media), built with real
arguments (order numbers, a payment reference, a cart line, an address, a reset token). Each is
requested with a nasty value in each path argument and in its query string; every form found
on the pages (parsed from their HTML, signed in as a customer with a cart and orders, and
signed out) is posted with each field in turn set to each nasty value, other fields keeping
the page's own values. FUZZ_WITHOUT_MIDDLEWARE=1 runs it without the control-character
middleware (before it: 34 of 4654 requests answered 500)."""

import os
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from cart.models import Cart, CartLine
from catalog.models import Category
from orders.services import order_mark_paid
from payments.models import Payment
from payments.services import payment_reference_new
from shop.core.middleware import ControlCharacterMiddleware, has_control_character
from tests import factories
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db

# Percent-encoded, ready for a path, a query string or a urlencoded body.
NASTY = [
    "%00",  # NUL
    "A1%00B2",  # NUL inside ordinary text
    "%2500",  # the text "%00"
    "%01%08%1B%7F",  # other control characters
    "x" * 3000,  # longer than any column
    "%ED%A0%80",  # a lone surrogate, UTF-8 encoded (invalid UTF-8)
    "%C0%AF%FF",  # an overlong encoding and a byte that is never UTF-8
    quote("订单😀ｑ１２３"),  # CJK, an emoji outside the BMP, full-width letters and digits
    quote("' OR 1=1 --<script>"),
    "%0D%0Anext%09line",  # CR, LF and tab are text, not refused
]
GENERIC_PARAMS = ["q", "page", "sort", "next", "return_url", "notify_url", "out_trade_no", "province", "cart"]
SKIP_NAMESPACES = {"admin"}
SKIP_POST = {"accounts:logout"}  # would sign the fuzzing customer out
# Forms submitted once as the page fills them, to reach the forms behind them (checkout's review
# page posts the order with its note), except those that would spoil the world for the rest.
NO_PLAIN_SUBMIT = {"accounts:logout", "accounts:address_delete", "orders:cancel", "cart:remove"}


# -- the site's URLs ----------------------------------------------------------------------------


def _patterns(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns in SKIP_NAMESPACES:
                continue
            yield from _patterns(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            if entry.name is None or entry.name == "bench_ceiling":
                continue  # media (a file server) and the benchmark's stand-in
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield name, prefix + str(entry.pattern)


@dataclass
class Route:
    name: str
    template: str  # the route with {arg} placeholders
    args: dict[str, str]  # real values

    def url(self, **override: str) -> str:
        values = {k: quote(v, safe="") for k, v in self.args.items()} | override
        return "/" + self.template.format(**values)


def _routes(world) -> list[Route]:
    import re

    routes = []
    for name, route in _patterns(get_resolver()):
        if route.startswith("^"):
            continue  # regex routes: media only, skipped above
        template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        names = re.findall(r"<(?:\w+:)?(\w+)>", route)
        for values in world.arguments(name, names):
            routes.append(Route(name=name, template=template, args=dict(zip(names, values, strict=True))))
    return routes


# -- forms on a page ----------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)


class FormParser(HTMLParser):
    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(Form(action=a.get("action") or self.page_url, method=(a.get("method") or "get").lower()))
            return
        if not self.forms:
            return
        form = self.forms[-1]
        name = a.get("name")
        if tag == "input" and name:
            if not any(n == name for n, _ in form.fields):  # one value per radio group
                form.fields.append((name, a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "button" and name:
            form.fields.append((name, a.get("value") or ""))
        elif tag == "select" and name:
            self._select = name
            form.fields.append((name, ""))
        elif tag == "option" and self._select:
            value = a.get("value", "")
            fields = form.fields
            if fields[-1] == (self._select, "") or "selected" in a:
                fields[-1] = (self._select, value)
        elif tag == "textarea" and name:
            self._textarea = name
            form.fields.append((name, ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_on(html: str, page_url: str) -> list[Form]:
    parser = FormParser(page_url)
    parser.feed(html)
    return [f for f in parser.forms if f.fields]


# -- the world the fuzzer shops in --------------------------------------------------------------


class World:
    def __init__(self):
        category = factories.CategoryFactory()
        variant = stocked_variant(on_hand=1000, price="25.00", category=category)
        self.user, self.address, cart = buyer_with_cart([(variant, 1)])
        self.pending = place(self.user, self.address, cart, payment_method="sandbox")
        second = Cart.objects.create(user=self.user)
        second.lines.create(variant=variant, quantity=2, price_seen=variant.price)
        self.paid = place(self.user, self.address, second, payment_method="sandbox")
        order_mark_paid(order_id=self.paid.pk, amount=self.paid.total, reference="fuzz-payment")
        self.payment = Payment.objects.create(
            order=self.pending,
            provider="sandbox",
            reference=payment_reference_new(),
            amount=self.pending.total,
            currency=self.pending.currency,
        )
        self.variant = variant
        self.cart = Cart.objects.create(user=self.user)
        self.line = self.cart.lines.create(variant=variant, quantity=1, price_seen=variant.price)
        self.stale_tokens: list[str] = []  # of carts the fuzzer has placed
        self.product = variant.product
        self.category = Category.objects.get(pk=self.product.category_id)

    def refill(self) -> None:
        """An open cart holding the same line again (fuzzing removes it, or places the order)."""
        cart = Cart.objects.filter(user=self.user, state=Cart.State.OPEN).first() or Cart.objects.create(user=self.user)
        if cart.pk != self.cart.pk:
            self.stale_tokens.append(str(self.cart.token))
            self.cart = cart
        CartLine.objects.filter(pk=self.line.pk).exclude(cart=cart).update(cart=cart)
        CartLine.objects.get_or_create(
            pk=self.line.pk,
            defaults={"cart": cart, "variant": self.variant, "quantity": 1, "price_seen": self.variant.price},
        )

    def current(self, body: str) -> str:
        """`body` with a placed cart's token (from a page read before) replaced by the open one's."""
        for token in self.stale_tokens:
            body = body.replace(token, str(self.cart.token))
        return body

    def arguments(self, name: str, names: list[str]) -> list[tuple[str, ...]]:
        """Real values for a route's arguments (one tuple per URL to fuzz)."""
        if not names:
            return [()]
        known = {
            "number": [self.pending.number, self.paid.number],
            "reference": [self.payment.reference],
            "provider": ["sandbox", "alipay"],
            "line_id": [str(self.line.pk)],
            "pk": [str(self.address.pk)],
            "code": ["en"],
            "uidb64": [urlsafe_base64_encode(force_bytes(self.user.pk))],
            "token": [default_token_generator.make_token(self.user)],
            "slug": [self.category.slug if name.endswith("category") else self.product.slug],
        }
        combos = [()]
        for arg in names:
            combos = [(*c, v) for c in combos for v in known.get(arg, ["1"])]
        return combos


@dataclass
class Fuzzer:
    client: Client
    world: "World"
    sent: int = 0
    failures: list[str] = field(default_factory=list)

    def request(self, method: str, url: str, body: str = "") -> None:
        self.sent += 1
        if method == "get":
            response = self.client.get(url)
        else:
            self.world.refill()  # a POST before may have removed the line or placed the cart
            body = self.world.current(body)
            response = self.client.post(url, body, content_type="application/x-www-form-urlencoded")
        if response.status_code >= 500:
            self.failures.append(f"{response.status_code} {method.upper()} {url[:160]} {body[:160]}")

    def page(self, url: str, body: str | None = None) -> str:
        self.sent += 1
        if body is None:
            response = self.client.get(url)
        else:
            response = self.client.post(url, body, content_type="application/x-www-form-urlencoded")
        if response.status_code >= 500:
            self.failures.append(f"{response.status_code} GET {url}")
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            return response.content.decode()
        return ""


def _body(fields: list[tuple[str, str]], target: str | None, nasty: str) -> str:
    return "&".join(
        f"{quote(name, safe='')}={nasty if name == target or target is None else quote(value, safe='')}"
        for name, value in fields
    )


def _path(url: str) -> str:
    return urlsplit(url)._replace(scheme="", netloc="").geturl()


def _route_name(path: str) -> str:
    try:
        return resolve(urlsplit(path).path).view_name
    except Resolver404:
        return ""


def fuzz(fuzzer: Fuzzer, routes: list[Route]) -> None:
    # The routes that delete or cancel go last, so the others still find an address and a cart.
    for route in sorted(routes, key=lambda r: r.name in NO_PLAIN_SUBMIT):
        fuzzer.world.refill()
        base = route.url()
        html = fuzzer.page(base)
        forms = forms_on(html, base)
        get_params = {n for f in forms if f.method == "get" for n, _ in f.fields}
        # The path: each argument in turn, and an extra segment.
        for nasty in NASTY:
            for arg in route.args:
                fuzzer.request("get", route.url(**{arg: nasty}))
            fuzzer.request("get", base.rstrip("/") + "/" + nasty + "/")
        # The query string: the page's own GET fields one by one, then the usual names together.
        for nasty in NASTY:
            for param in sorted(get_params):
                fuzzer.request("get", f"{base}?{quote(param)}={nasty}")
            fuzzer.request("get", base + "?" + "&".join(f"{p}={nasty}" for p in GENERIC_PARAMS))
        # Forms: each field of each POST form in turn; and, for every URL, a POST of all the
        # usual names (gateway notifications and return pages have no form to read).
        if route.name in SKIP_POST:
            continue
        post_forms = [f for f in forms if f.method == "post"]
        for form in list(post_forms):
            action = _path(form.action) or base
            if _route_name(action) not in NO_PLAIN_SUBMIT:
                html = fuzzer.page(action, _body(form.fields, "", ""))
                post_forms += [f for f in forms_on(html, action) if f.method == "post"]
        for form in post_forms:
            action = _path(form.action) or base
            for nasty in NASTY:
                for name, _value in form.fields:
                    if name != "csrfmiddlewaretoken":
                        fuzzer.request("post", action, _body(form.fields, name, nasty))
        for nasty in NASTY:
            fuzzer.request("post", base, _body([(p, "") for p in GENERIC_PARAMS], None, nasty))


@pytest.mark.django_db(transaction=True)  # a failed query must not poison the requests after it
def test_no_customer_url_or_form_answers_5xx_to_nasty_input(settings, capsys):
    settings.RATELIMIT_ENABLE = False  # thousands of requests from one address, on purpose
    settings.ORDER_MAX_UNPAID_PER_CUSTOMER = 10_000  # the fuzzer places many orders on purpose
    if os.environ.get("FUZZ_WITHOUT_MIDDLEWARE"):  # to count what the middleware prevents
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "ControlCharacter" not in m]
    world = World()
    routes = _routes(world)
    assert {r.name for r in routes} >= {"orders:detail", "fulfillment:tracking", "payments:pay", "cart:coupon"}

    signed_in = Client(raise_request_exception=False)
    signed_in.force_login(world.user)
    anonymous = Client(raise_request_exception=False)
    fuzzers = [Fuzzer(signed_in, world), Fuzzer(anonymous, world)]
    for fuzzer in fuzzers:
        fuzz(fuzzer, routes)

    sent = sum(f.sent for f in fuzzers)
    failures = [line for f in fuzzers for line in f.failures]
    with capsys.disabled():
        print(f"\nfuzz: {len(routes)} URLs, {sent} requests, {len(failures)} answered 5xx")
    assert not failures, f"{len(failures)} of {sent} requests answered 5xx:\n" + "\n".join(failures[:60])


# -- the middleware itself ----------------------------------------------------------------------


def test_a_nul_anywhere_in_text_is_refused_with_a_clear_400(client):
    for response in (
        client.get("/search/?q=a%00b"),
        client.get("/orders/2026%00/"),
        client.post("/cart/coupon/", {"code": "SAVE\x0010"}),
        client.post("/cart/coupon/", {"code\x00": "SAVE10"}),
    ):
        assert response.status_code == 400
        assert "control character" in response.content.decode() or "控制字符" in response.content.decode()


def test_the_refusal_speaks_the_customers_language(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "NUL byte" in client.get("/search/?q=%00").content.decode()


def test_tab_and_newlines_are_text_and_binary_uploads_pass(rf):
    from django.core.files.uploadedfile import SimpleUploadedFile

    passed = []
    middleware = ControlCharacterMiddleware(lambda request: passed.append(request) or "ok")
    upload = SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", content_type="image/png")
    assert middleware(rf.post("/x/", {"note": "line one\r\nline\ttwo", "photo": upload})) == "ok"
    assert len(passed) == 1


def test_a_cookie_with_a_nul_is_dropped_not_refused(rf):
    seen = []
    middleware = ControlCharacterMiddleware(lambda request: seen.append(dict(request.COOKIES)) or "ok")
    request = rf.get("/")
    request.COOKIES = {"sessionid": "abc\x00def", "django_language": "en"}
    assert middleware(request) == "ok"
    assert seen == [{"django_language": "en"}]


def test_control_characters_are_c0_and_del_but_not_tab_cr_lf():
    assert all(has_control_character(chr(c)) for c in [*range(0, 9), 11, 12, *range(14, 32), 127])
    assert not any(has_control_character(c) for c in "\t\r\n 订😀\u0085")
