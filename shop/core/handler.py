"""The WSGI handler the shop's web processes run: Django's, with a request that survives a
declared charset that is no text codec."""

import contextlib

from django.core.handlers.wsgi import WSGIHandler, WSGIRequest


class ShopWSGIRequest(WSGIRequest):
    def _set_content_type_params(self, meta) -> None:
        # "Content-Type: ...; charset=hex" (or rot13, base64): codecs.lookup() knows the codec, so
        # Django takes it as the request's encoding, and its encoding setter asks
        # hasattr(self, "GET"), which decodes the query string with it. Those codecs do not decode
        # bytes to text, and the LookupError escaped while Django built the request, before any
        # middleware: a 500. The setter had already kept the charset (self._encoding) and nothing
        # was decoded, so ControlCharacterMiddleware refuses it with a 400, as any other charset
        # than UTF-8.
        with contextlib.suppress(LookupError):
            super()._set_content_type_params(meta)


class ShopWSGIHandler(WSGIHandler):
    request_class = ShopWSGIRequest
