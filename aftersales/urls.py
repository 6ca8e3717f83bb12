from django.urls import path

from aftersales.views import invoices, requests, reviews

app_name = "aftersales"

# Requests and refund notes (customer pages): views.requests.
request_urls = [
    path("", requests.request_list, name="list"),
    path("new/<str:order_number>/", requests.request_new, name="new"),
    path("refunds/<str:number>/", requests.refund_note, name="refund"),
    path("<str:number>/", requests.request_detail, name="detail"),
    path("<str:number>/cancel/", requests.request_cancel, name="cancel"),
    path("<str:number>/appeal/", requests.request_appeal, name="appeal"),
    path("<str:number>/message/", requests.request_message, name="message"),
    path("<str:number>/return/", requests.request_return_shipped, name="return_shipped"),
]

# Reviews (customer pages and the product page's review list): views.reviews.
review_urls = [
    path("reviews/order/<str:number>/", reviews.order_review, name="review_order"),
    path("reviews/<int:review_id>/followup/", reviews.review_followup_view, name="review_followup"),
    path("reviews/product/<int:product_id>/", reviews.product_reviews, name="product_reviews"),
]

# Invoices (customer pages): views.invoices.
invoice_urls = [
    path("invoices/order/<str:order_number>/", invoices.invoice_request, name="invoice_request"),
    path("invoices/<str:number>.pdf", invoices.invoice_pdf, name="invoice_pdf"),
]

urlpatterns = [*invoice_urls, *review_urls, *request_urls]
