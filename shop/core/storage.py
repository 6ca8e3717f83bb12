"""Media on object storage: S3, or any S3-compatible server (MinIO, Aliyun OSS, Tencent COS; moto's
server stands in for it in the tests and `make cluster`, see bin/s3-local).

Public and private media share one bucket and are told apart by the first folder of their name,
which the shop chooses (upload_to functions; never the client's file name):

- public: product images and their renditions (products/), review photos (reviews/), the demo's
  photos (demo/). Served straight from the bucket or its CDN at MEDIA_URL, unsigned, so a page
  builds their URL as a string: no call to S3 while rendering, and the same URL every time, which
  browsers and CDNs can cache for good (the names are random and never reused).
- private: everything else, today the after-sales evidence (aftersales/), and any folder added
  later until it is listed here. Linked only through signed URLs that expire
  (AWS_QUERYSTRING_EXPIRE), rendered for the customer and staff who may see them.

The bucket itself grants anonymous s3:GetObject on the public folders only, and nothing else: no
s3:ListBucket (nobody can enumerate the bucket) and no object ACLs (objects are private unless the
policy makes them public). media_bucket_policy() is that policy; bin/s3-local applies it to the
stand-in and the README tells operators to apply it to theirs.
"""

import mimetypes
import posixpath

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage

PUBLIC_PREFIXES = ("products/", "reviews/", "demo/")
# Names are random (uuid) and a file is never rewritten under the same name: cache for a year.
PUBLIC_CACHE_CONTROL = "public, max-age=31536000, immutable"
PRIVATE_CACHE_CONTROL = "private, no-store"


def media_is_public(name: str) -> bool:
    """Whether a stored name is in a public folder. A name that climbs out of its folder ("..")
    or is absolute counts as private."""
    normalised = posixpath.normpath(name)
    return (
        normalised == name.rstrip("/") and not normalised.startswith(("/", "..")) and name.startswith(PUBLIC_PREFIXES)
    )


def media_bucket_policy(bucket: str, *, partition: str = "aws") -> dict:
    """The bucket policy that makes the public folders readable by anyone and nothing else
    (partition "aws-cn" for AWS's China regions)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicMediaReadOnly",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": [f"arn:{partition}:s3:::{bucket}/{prefix}*" for prefix in PUBLIC_PREFIXES],
            }
        ],
    }


class MediaStorage(S3Storage):
    """The shop's media storage on S3 (settings.STORAGES["default"] when a bucket is set)."""

    # Fixed here rather than read from settings: private URLs must always be signed by S3 (a
    # custom domain would turn the storage's signing off), and no object gets an ACL (the bucket
    # policy decides what is public).
    custom_domain = None
    querystring_auth = True
    default_acl = None

    def url(self, name, parameters=None, expire=None, http_method=None) -> str:
        if media_is_public(name) and not parameters and http_method in (None, "GET"):
            # The same string as catalog's denormalised rendition and card URLs build.
            return f"{settings.MEDIA_URL}{filepath_to_uri(name)}"
        return super().url(name, parameters=parameters, expire=expire, http_method=http_method)

    def get_object_parameters(self, name: str) -> dict:
        params = super().get_object_parameters(name)
        # The type comes from the name the shop generated from the file's content, never from the
        # upload's Content-Type, which the client chose (an image declared as text/html would be
        # served as a page from the bucket's origin).
        content_type, _encoding = mimetypes.guess_type(name)
        params["ContentType"] = content_type or self.default_content_type
        params.setdefault("CacheControl", PUBLIC_CACHE_CONTROL if media_is_public(name) else PRIVATE_CACHE_CONTROL)
        return params
