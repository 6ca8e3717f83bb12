"""Helpers every app may use: money, the anonymous page cache, counters, errors."""
