"""Staff pages of after-sales: the request queue, refund notes and insurance claims
(admin.requests), review moderation (admin.reviews), the sales report and the dashboard
(admin.reports), the monthly settlement (admin.settlement)."""

from aftersales.admin import invoices, reports, requests, reviews, settlement  # noqa: F401 - registers the ModelAdmins
