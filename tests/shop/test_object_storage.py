"""Media on object storage: moto's S3 server on loopback (real HTTP, the S3 wire protocol that
boto3 speaks to AWS), set up as bin/lib.sh start_s3 sets it up. Product images uploaded in the
admin land in the bucket with their renditions and are linked from the bucket's public address;
pages build those links without asking S3 anything; deleting an image deletes its files; the
demo's photos work there too. An attacker's view: after-sales evidence is readable only through
a signed URL, the file's type is never the one the uploader claimed, and the bucket grants
anonymous reads of the public folders and nothing else."""

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import boto3
import pytest
from botocore.endpoint import Endpoint
from botocore.exceptions import ClientError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from moto.server import ThreadedMotoServer

from aftersales.models import AfterSalePhoto, ReviewPhoto, photo_path
from catalog.models import ProductImage
from shop import demo_catalogue as words
from shop.core.storage import PUBLIC_PREFIXES, media_bucket_policy, media_is_public
from shop.demo import DemoBuilder
from tests.catalog.support import AdminForm, image_bytes, upload

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "shop-media"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_server():
    """moto's server in a thread, with the bucket and the policy start_s3 gives it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = {"aws_access_key_id": "local" + secrets.token_hex(6), "aws_secret_access_key": secrets.token_hex(20)}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **keys)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(media_bucket_policy(BUCKET)))
    yield {"endpoint": endpoint, "client": s3, **keys}
    server.stop()


@pytest.fixture
def s3_media(settings, s3_server):
    """The settings shop/settings.py derives from AWS_STORAGE_BUCKET_NAME and AWS_S3_ENDPOINT_URL."""
    settings.AWS_STORAGE_BUCKET_NAME = BUCKET
    settings.AWS_S3_ENDPOINT_URL = s3_server["endpoint"]
    settings.AWS_S3_REGION_NAME = REGION
    settings.AWS_ACCESS_KEY_ID = s3_server["aws_access_key_id"]
    settings.AWS_SECRET_ACCESS_KEY = s3_server["aws_secret_access_key"]
    settings.AWS_S3_SIGNATURE_VERSION = "s3v4"
    settings.AWS_QUERYSTRING_EXPIRE = 600
    settings.MEDIA_URL = f"{s3_server['endpoint']}/{BUCKET}/"
    # Last: changing STORAGES makes Django drop the storages built with the old settings.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "shop.core.storage.MediaStorage"}}
    return s3_server


@pytest.fixture
def staff_client(admin_user) -> Client:
    staff = Client(HTTP_ACCEPT_LANGUAGE="en")
    staff.force_login(admin_user)
    return staff


def _head(s3_media, name: str) -> dict | None:
    try:
        return s3_media["client"].head_object(Bucket=BUCKET, Key=name)
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return None


def _anonymous_get(url: str) -> int:
    """What a browser (or anyone) gets at this URL, with no credentials."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


class S3Calls:
    """Every HTTP request boto3 sends while counting."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def __enter__(self):
        original = Endpoint.make_request

        def counting(endpoint, operation_model, request_dict):
            self.operations.append(operation_model.name)
            return original(endpoint, operation_model, request_dict)

        self._patch = mock.patch.object(Endpoint, "make_request", counting)
        self._patch.start()
        return self

    def __exit__(self, *exc) -> None:
        self._patch.stop()


def _admin_add_image(staff_client, product, file):
    url = reverse("admin:catalog_product_change", args=[product.pk])
    form = AdminForm(staff_client.get(url).content.decode(), "product_form")
    row = form.add_inline_row("images", alt="front", position="0")
    return staff_client.post(url, form.post_data(**{f"images-{row}-image": file}))


@pytest.mark.django_db
def test_admin_upload_goes_to_the_bucket_and_pages_link_it_without_asking_s3(
    s3_media, staff_client, client, make_product, django_capture_on_commit_callbacks
):
    product = make_product(name="对象存储测试")
    # The client claims text/html: the bucket must serve what the shop decided, an image.
    with django_capture_on_commit_callbacks(execute=True):
        response = _admin_add_image(
            staff_client, product, upload("front.png", image_bytes("PNG", (640, 480)), "text/html")
        )
    assert response.status_code == 302

    image = ProductImage.objects.get(product=product)
    assert image.image.name.startswith(f"products/{product.pk}/") and image.image.name.endswith(".png")
    assert set(image.renditions) == {"thumbnail", "listing", "zoom"}
    for name in (image.image.name, *image.renditions.values()):
        head = _head(s3_media, name)
        assert head is not None, f"{name} is not in the bucket"
        assert head["ContentType"] == "image/png"
        assert "immutable" in head["CacheControl"]

    bucket_url = f"{s3_media['endpoint']}/{BUCKET}/"
    product.refresh_from_db()
    assert product.card_image_url == bucket_url + image.renditions["listing"]
    assert image.zoom_url == bucket_url + image.renditions["zoom"] == image.image.storage.url(image.renditions["zoom"])
    with S3Calls() as calls:
        page = client.get(product.get_absolute_url()).content.decode()
        listing = client.get(reverse("catalog:all")).content.decode()
        admin_page = staff_client.get(reverse("admin:catalog_product_change", args=[product.pk])).content.decode()
    assert calls.operations == []  # denormalised names: no HEAD (or anything) per image per request
    assert image.listing_url in page and image.zoom_url in page
    assert product.card_image_url in listing
    assert image.thumbnail_url in admin_page
    # Public: anyone can fetch it, unsigned, at the address the pages give.
    assert _anonymous_get(image.zoom_url) == 200
    assert _anonymous_get(product.card_image_url) == 200


@pytest.mark.django_db
def test_deleting_an_image_deletes_its_files_but_not_a_shared_one(
    s3_media, make_product, django_capture_on_commit_callbacks
):
    product = make_product()
    # Saved in code, not through a form (whose ImageField resets the type from Pillow's reading):
    # the type the client claimed must not reach the bucket either.
    with django_capture_on_commit_callbacks(execute=True):
        image = ProductImage.objects.create(product=product, image=upload("a.jpg", image_bytes("JPEG"), "text/html"))
    image.refresh_from_db()
    assert _head(s3_media, image.image.name)["ContentType"] == "image/jpeg"
    # The demo shares one file between products: a second row on the same file.
    with django_capture_on_commit_callbacks(execute=True):
        twin = ProductImage.objects.create(product=make_product(), image=image.image.name, renditions=image.renditions)
    names = [image.image.name, *image.renditions.values()]

    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert all(_head(s3_media, name) is not None for name in names)  # the twin still shows them

    with django_capture_on_commit_callbacks(execute=True):
        twin.product.delete()  # cascades to the image row
    assert [name for name in names if _head(s3_media, name) is not None] == []
    assert _anonymous_get(f"{s3_media['endpoint']}/{BUCKET}/{names[0]}") in (403, 404)


@pytest.mark.django_db
def test_after_sales_evidence_is_private_and_review_photos_public(s3_media):
    evidence = photo_path(AfterSalePhoto(), "photo.jpg")
    review = photo_path(ReviewPhoto(), "photo.jpg")
    assert evidence.startswith("aftersales/") and not media_is_public(evidence)
    assert review.startswith("reviews/") and media_is_public(review)
    storage = AfterSalePhoto._meta.get_field("image").storage
    for name in (evidence, review):
        storage.save(name, ContentFile(image_bytes("JPEG", (200, 200))))

    # Evidence: unsigned, even at the bucket's own address, nothing; signed, for ten minutes.
    assert _anonymous_get(f"{s3_media['endpoint']}/{BUCKET}/{evidence}") == 403
    signed = storage.url(evidence)
    assert "X-Amz-Signature=" in signed and "X-Amz-Expires=600" in signed
    assert _anonymous_get(signed) == 200
    assert _head(s3_media, evidence)["CacheControl"] == "private, no-store"
    # A review photo: the plain public URL.
    assert storage.url(review) == f"{s3_media['endpoint']}/{BUCKET}/{review}"
    assert _anonymous_get(storage.url(review)) == 200


def test_names_outside_the_public_folders_are_private():
    assert media_is_public("products/1/a.jpg") and media_is_public("demo/x-red.jpg.400x400_q82.jpg")
    for name in ("aftersales/2026/01/a.jpg", "products/../aftersales/a.jpg", "/products/a.jpg", "invoices/1.pdf", ""):
        assert not media_is_public(name), name


def test_the_bucket_policy_lets_anyone_read_public_folders_only(s3_server):
    policy = json.loads(s3_server["client"].get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert policy == media_bucket_policy(BUCKET)
    (statement,) = policy["Statement"]
    # Reading named objects, never listing the bucket (s3:ListBucket) nor writing.
    assert statement["Effect"] == "Allow" and statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == [f"arn:aws:s3:::{BUCKET}/{prefix}*" for prefix in PUBLIC_PREFIXES]
    grants = s3_server["client"].get_bucket_acl(Bucket=BUCKET)["Grants"]
    assert all("AllUsers" not in json.dumps(grant) for grant in grants)  # no public ACL on the bucket


@pytest.mark.django_db
def test_the_demo_photos_go_to_the_bucket(s3_media, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    builder = DemoBuilder(products=0, progress=False)
    builder._images()
    root, leaf = next(iter(words.leaves()))
    name, renditions = builder._photo(root, leaf, leaf.colours[0])
    for stored in (name, *renditions.values()):
        assert _head(s3_media, stored) is not None, stored
    assert _anonymous_get(default_storage.url(renditions["listing"])) == 200


# --- the settings, as a fresh production interpreter reads them ----------------------------

REPORT = """
import json
import django
django.setup()
from django.conf import settings as s
from django.core.files.storage import storages
print(json.dumps({
    "default": s.STORAGES["default"]["BACKEND"],
    "static": s.STORAGES["staticfiles"]["BACKEND"],
    "storage": type(storages["default"]).__name__,
    "MEDIA_URL": s.MEDIA_URL,
    "img_src": s.CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"],
    "custom_domain": getattr(s, "AWS_S3_CUSTOM_DOMAIN", None),
}))
"""


def _production(**extra: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "shop.example.com",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-c", REPORT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.skipif((ROOT / ".env").exists(), reason="a .env file would feed the fresh interpreter")
def test_production_settings_put_media_on_the_bucket_and_refuse_it_without_keys():
    bucket = {"AWS_STORAGE_BUCKET_NAME": "shop-media", "AWS_S3_REGION_NAME": "cn-north-1"}
    refused = _production(**bucket)
    assert refused.returncode != 0 and "AWS_ACCESS_KEY_ID" in refused.stderr

    done = _production(
        **bucket,
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEEXAMPLE",
        AWS_SECRET_ACCESS_KEY=secrets.token_hex(20),
        AWS_S3_CUSTOM_DOMAIN="media.example.com",
    )
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout.strip().splitlines()[-1])
    assert resolved["default"] == "shop.core.storage.MediaStorage" and resolved["storage"] == "MediaStorage"
    assert resolved["static"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"  # static unchanged
    assert resolved["MEDIA_URL"] == "https://media.example.com/"
    assert resolved["img_src"] == ["'self'", "data:", "https://media.example.com"]
    # Never given to the storage under its own name: it would stop signing private URLs.
    assert resolved["custom_domain"] is None
