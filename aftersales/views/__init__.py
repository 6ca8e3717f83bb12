"""Customer pages of after-sales: requests (views.requests) and reviews (views.reviews)."""
