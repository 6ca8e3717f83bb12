"""An attacker sending listing URLs with ever new query strings cannot grow a web process: the
sort links and pager kept per process (catalog.templatetags.catalog_tags) are bounded in number,
and a long query string is never kept."""

from catalog.templatetags import catalog_tags

CHOICES = [("new", "Newest"), ("price", "Price")]


def test_made_up_query_strings_keep_at_most_the_bound(monkeypatch):
    monkeypatch.setattr(catalog_tags, "_links", {})
    for n in range(catalog_tags._LINKS_KEPT + 500):
        catalog_tags.sort_links(f"q=x&junk={n}", CHOICES, "new")
    assert len(catalog_tags._links) == catalog_tags._LINKS_KEPT
    # the newest are the ones kept (the oldest went first)
    assert any(key[1] == f"q=x&junk={catalog_tags._LINKS_KEPT + 499}" for key in catalog_tags._links)


def test_a_long_query_string_is_answered_but_not_kept(monkeypatch):
    monkeypatch.setattr(catalog_tags, "_links", {})
    long = "q=" + "x" * (catalog_tags._LINKS_KEPT_LENGTH + 1)
    assert "x" * 100 in catalog_tags.sort_links(long, CHOICES, "new")
    assert catalog_tags._links == {}
