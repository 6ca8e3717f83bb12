from django.urls import path  # noqa: F401 - used as the lists below fill

from aftersales.views import requests, reviews  # noqa: F401

app_name = "aftersales"

# Requests and refund notes (customer pages): views.requests.
request_urls = []

# Reviews (customer pages and the product page's review list): views.reviews.
review_urls = []

urlpatterns = [*review_urls, *request_urls]
