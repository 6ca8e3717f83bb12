"""Staff pages of after-sales: the request queue, refund notes and insurance claims
(admin.requests), and review moderation (admin.reviews)."""

from aftersales.admin import invoices, requests, reviews  # noqa: F401 - registers the ModelAdmins
