"""After-sales rules: requests and refunds (services.requests), insurance claims
(services.claims), reviews (services.reviews), customer photos (services.photos)."""
