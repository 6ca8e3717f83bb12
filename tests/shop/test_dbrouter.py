"""The primary/replica router (shop.core.dbrouter): which reads may go to the replica,
read-your-writes, the fence after catalogue writes, and falling back to the primary when the
replica is down or lagging.

The "replica" here is the test database itself, reached through the primary's own connection
(so it sees the test's uncommitted rows); the router's choices are recorded by a spy. The
unreachable replica is a real connection to a closed port."""

import runpy
import socket
import time

import pytest
from django.core.cache import caches
from django.db import connections, transaction
from django.db.backends.postgresql.base import DatabaseWrapper

from catalog.models import Favourite, Product
from shop.core import dbrouter
from tests import factories

ROUTER = "shop.core.dbrouter.PrimaryReplicaRouter"


@pytest.fixture
def replica(settings, monkeypatch):
    """A configured replica; yields the list of (model label, alias) the router chose for reads."""
    settings.REPLICA_DATABASE_ALIAS = "replica"
    settings.DATABASE_ROUTERS = [ROUTER]
    connections["replica"] = connections["default"]
    dbrouter._status[0] = None
    dbrouter._fence_last_set[0] = 0.0
    chosen = []
    read = dbrouter.PrimaryReplicaRouter.db_for_read

    def spy(self, model, **hints):
        alias = read(self, model, **hints)
        chosen.append((model._meta.label_lower, alias))
        return alias

    monkeypatch.setattr(dbrouter.PrimaryReplicaRouter, "db_for_read", spy)
    yield chosen
    del connections["replica"]
    dbrouter._status[0] = None


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def replica_down(replica):
    """The replica's connection goes to a port where nothing listens."""
    settings_dict = {**connections["default"].settings_dict, "HOST": "127.0.0.1", "PORT": closed_port()}
    connections["replica"] = DatabaseWrapper(settings_dict, alias="replica")
    return replica


def fence_down(chosen=None):
    """As if the last catalogue write (the test's own data) were long ago; forget the reads so far."""
    caches["default"].delete(dbrouter.FENCE_KEY)
    if chosen is not None:
        chosen.clear()


def catalog_reads(chosen, alias):
    return [label for label, used in chosen if used == alias and label.startswith("catalog.")]


def test_a_catalogue_page_reads_the_catalogue_from_the_replica_and_the_rest_from_the_primary(
    client, make_product, replica
):
    product = make_product(name="Replica mug")
    fence_down(replica)
    response = client.get(product.get_absolute_url())
    assert response.status_code == 200 and "Replica mug" in response.content.decode()
    assert catalog_reads(replica, "replica")
    assert not catalog_reads(replica, "default")
    # Not the catalogue's models (reviews, stock): the primary.
    assert all(alias == "default" for label, alias in replica if not label.startswith("catalog."))

    replica.clear()
    assert client.get("/cart/").status_code == 200
    assert not catalog_reads(replica, "replica")


def test_a_client_that_wrote_reads_the_primary_for_a_while(client, make_product, replica, settings):
    product = make_product(name="Pinned mug")
    variant = product.variants.get()
    fence_down()
    response = client.post("/cart/add/", {"variant": variant.pk, "quantity": 1})
    assert response.status_code in (200, 302)
    assert dbrouter.PIN_COOKIE in response.cookies
    assert response.cookies[dbrouter.PIN_COOKIE]["max-age"] == settings.REPLICA_PIN_SECONDS

    replica.clear()
    assert client.get(product.get_absolute_url()).status_code == 200
    assert catalog_reads(replica, "default") and not catalog_reads(replica, "replica")

    # A forged cookie pins nobody (and an expired one neither: it is signed with its time).
    client.cookies[dbrouter.PIN_COOKIE] = "1"
    replica.clear()
    client.get(product.get_absolute_url())
    assert catalog_reads(replica, "replica")


def test_a_catalogue_write_fences_the_replica_until_the_pin_time_after_its_commit(
    make_product, replica, django_capture_on_commit_callbacks, time_machine
):
    product = make_product()
    fence_down()
    with dbrouter.replica_reads():
        assert Product.objects.filter(pk=product.pk).db == "replica"
    # A transaction of its own: the test case's wrapping one, where the data above was written,
    # never commits.
    connections["default"]._replica_fence_hooks = None
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        Product.objects.filter(pk=product.pk).update(name="Renamed")
        Product.objects.filter(pk=product.pk).update(name="Renamed again")
        fence_down()  # only the hook on commit can raise it now
    assert callbacks.count(dbrouter._fence_on_commit) == 1  # one hook per transaction
    assert caches["default"].get(dbrouter.FENCE_KEY)
    with dbrouter.replica_reads():
        assert Product.objects.filter(pk=product.pk).db == "default"
    # A customer's favourite or a view count changes no page anyone else sees: no fence.
    fence_down()
    Favourite.objects.create(customer=factories.UserFactory(), product=product)
    with dbrouter.replica_fence_skipped():
        Product.objects.filter(pk=product.pk).update(view_count=7)
    assert not caches["default"].get(dbrouter.FENCE_KEY)
    # …and the replica is told apart from a store that must not happen (the fence moved).
    with dbrouter.replica_reads():
        assert Product.objects.filter(pk=product.pk).db == "replica"
        Product.objects.filter(pk=product.pk).first()
        assert dbrouter.replica_safe_to_store()
        dbrouter._fence_last_set[0] = 0.0
        dbrouter.replica_fence_raise()
        assert not dbrouter.replica_safe_to_store()


def test_reads_inside_a_transaction_use_the_primary(make_product, replica):
    make_product()
    fence_down()
    with dbrouter.replica_reads():
        assert Product.objects.all().db == "replica"
        with transaction.atomic():
            assert Product.objects.all().db == "default"


def test_an_unreachable_replica_sends_reads_to_the_primary_and_shows_in_the_health_check(
    client, make_product, replica_down
):
    product = make_product(name="Fallback mug")
    fence_down(replica_down)
    response = client.get(product.get_absolute_url())
    assert response.status_code == 200 and "Fallback mug" in response.content.decode()
    assert catalog_reads(replica_down, "default") and not catalog_reads(replica_down, "replica")
    assert dbrouter.replica_status().state == "down"
    health = client.get("/healthz")
    assert health.status_code == 200  # the node still serves: the balancer must keep it
    assert health.content.decode().splitlines() == ["ok", "replica: down", "replica_lag_seconds: unknown"]
    assert client.get("/healthz?format=json").json()["replica"]["state"] == "down"


def test_the_public_health_check_never_shows_the_database_error(client, make_product, replica_down):
    """/healthz answers anyone (the balancer has no login): the driver's message for an
    unreachable replica names its host, port and user, and must not reach a visitor."""
    fence_down(replica_down)
    make_product(name="Quiet mug")
    assert dbrouter.replica_status(refresh=True).state == "down"
    assert dbrouter.replica_status().error  # the router knows why…
    port = str(connections["replica"].settings_dict["PORT"])
    for response in (client.get("/healthz"), client.get("/healthz?format=json")):
        body = response.content.decode()
        assert response.status_code == 200
        assert port not in body and "connection" not in body.lower() and "error" not in body  # …visitors do not


def test_a_replica_that_fails_mid_request_is_answered_from_the_primary(client, make_product, replica_down):
    product = make_product(name="Second try mug")
    fence_down(replica_down)
    # The last check found it well; it has stopped since.
    dbrouter._status[0] = dbrouter.ReplicaStatus(
        configured=True, reachable=True, lag_seconds=0.0, in_use=True, checked_at=time.monotonic()
    )
    response = client.get(product.get_absolute_url())
    assert response.status_code == 200 and "Second try mug" in response.content.decode()
    assert catalog_reads(replica_down, "replica")  # tried first…
    assert catalog_reads(replica_down, "default")  # …then answered from the primary
    assert dbrouter.replica_status().state == "down"


def test_a_lagging_replica_is_left_alone_and_its_lag_shown(admin_client, make_product, replica, monkeypatch, settings):
    product = make_product(name="Lagging mug")
    fence_down()
    monkeypatch.setattr(
        dbrouter,
        "_measure",
        lambda alias: dbrouter.ReplicaStatus(configured=True, reachable=True, lag_seconds=7.5, in_use=False),
    )
    with dbrouter.replica_reads():
        assert Product.objects.filter(pk=product.pk).db == "default"
    health = admin_client.get("/healthz")
    assert health.content.decode().splitlines() == ["ok", "replica: lagging", "replica_lag_seconds: 7.500"]
    assert admin_client.get("/healthz?format=json").json()["replica"] == {
        "state": "lagging",
        "lag_seconds": 7.5,
        "max_lag_seconds": settings.REPLICA_MAX_LAG,
    }
    dashboard = admin_client.get("/admin/").content.decode()
    assert 'id="bo-replica"' in dashboard and "7.50" in dashboard


def test_the_real_lag_measure_on_a_database_that_is_not_a_standby(replica, db):
    status = dbrouter.replica_status(refresh=True)
    assert (status.state, status.lag_seconds) == ("ok", 0.0)


def test_without_a_replica_nothing_changes(client, db):
    assert dbrouter.replica_status().state == "off"
    assert client.get("/healthz").content == b"ok"


def test_settings_build_the_replica_alias_and_the_pool(monkeypatch, settings):
    monkeypatch.setenv("REPLICA_DATABASE_URL", "postgres://shop@127.0.0.1:5433/shop")
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@127.0.0.1:5432/shop")
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "2")
    path = str(settings.BASE_DIR / "shop" / "settings.py")
    built = runpy.run_path(path)
    replica = built["DATABASES"]["replica"]
    assert (replica["PORT"], replica["TEST"]) == (5433, {"MIRROR": "default"})
    assert built["DATABASE_ROUTERS"] == [ROUTER]
    primary = built["DATABASES"]["default"]
    assert primary["CONN_MAX_AGE"] == 0  # Django's pool refuses persistent connections
    assert primary["OPTIONS"]["pool"]["max_size"] == 2
    assert "pool" not in replica["OPTIONS"]  # a pool would wait for a replica that is down
    monkeypatch.setenv("REPLICA_PIN_SECONDS", "1")
    with pytest.raises(Exception, match="REPLICA_PIN_SECONDS"):
        runpy.run_path(path)


def test_the_lag_is_bounded_by_the_last_primary_position_the_replica_has_replayed():
    positions = [(100, 10.0), (250, 11.0), (400, 12.0)]
    # Replayed everything the primary had at 11.0 (250), not yet what it had at 12.0.
    assert dbrouter.replica_lag(replayed=300, positions=positions, now=12.5, age=3600.0) == 1.5
    assert dbrouter.replica_lag(replayed=400, positions=positions, now=12.5, age=3600.0) == 0.5
    # Behind every sample (a process that just started): the age of its last replayed commit.
    assert dbrouter.replica_lag(replayed=50, positions=positions, now=12.5, age=7.0) == 7.0
    assert dbrouter.replica_lag(replayed=50, positions=[], now=12.5, age=None) == float("inf")


def test_staff_who_do_not_run_the_shop_see_no_replica_tile(client, replica, db):
    """The tile is for superusers: other staff (a warehouse clerk) get the dashboard without it."""
    fence_down()
    clerk = factories.UserFactory(is_staff=True)
    client.force_login(clerk)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert 'id="bo-replica"' not in response.content.decode()
