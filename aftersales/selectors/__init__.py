"""Reads for after-sales pages: requests, refund notes, reviews."""
