"""Customer pages: review the items of a completed order, follow up; the product page's reviews."""
