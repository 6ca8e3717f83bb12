"""Pick the benchmark's URLs from the seeded database and print them as JSON.

    .venv/bin/python bench/pick_urls.py > urls.json

Each entry: {"name", "path", "note"}. The pages are the ones a visitor hits most: home, the
all-products listing, the biggest root category, a typical leaf category, a search for a
common Chinese word, one for a rare word and one for a word of a few thousand hits (nothing cached
only), the root category filtered by its most common brand
(the filter a visitor clicks first), and a product page. The ceiling URL is added
by bench/run.py once the category page's size is known.
"""

import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, os.environ.get("BENCH_SRC") or str(Path(__file__).resolve().parent.parent))  # the code under test
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from catalog.models import Category, Product  # noqa: E402

COMMON_WORD = os.environ.get("BENCH_COMMON_WORD", "纯棉")
# A word of a few thousand hits (10,060 at 100,000 products): estimated from the 10 % sample
# stratum, where the common word's is the 4 % and the rare word is counted exactly. Measured
# with nothing cached only (a goal row; issue 12, part P14).
MID_WORD = os.environ.get("BENCH_MID_WORD", "经典")


def subtree_count(category: Category) -> int:
    return Product.objects.filter(is_active=True, category__path__startswith=category.path).count()


def search_hits(word: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM catalog_product WHERE is_active AND search_vector @@ to_tsquery('simple', %s)",
            [f"'{word}':*"],
        )
        return cursor.fetchone()[0]


def rare_word() -> tuple[str, int]:
    """The least searched-for brand: the rarest indexed word that is a brand's Chinese name.

    Brand names are real words a visitor types; the rarest raw index words are often jieba
    artefacts (e.g. 棉毛 out of 纯棉毛衣) that nobody would search for."""
    override = os.environ.get("BENCH_RARE_WORD")
    if override:
        return override, search_hits(override)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.word FROM ts_stat('SELECT search_vector FROM catalog_product WHERE is_active') s "
            "JOIN catalog_brand b ON b.name = s.word ORDER BY s.ndoc, s.word LIMIT 1"
        )
        row = cursor.fetchone()
    word = row[0] if row else Product.objects.filter(is_active=True).values_list("brand__name", flat=True)[0]
    return word, search_hits(word)  # prefix matching may find a few more than the exact word


def top_brand(category: Category) -> tuple[int, str, int]:
    """The brand with the most active products under the category: its filter narrows the most
    rows a visitor can narrow with one click, so it is the slowest common filter."""
    row = (
        Product.objects.filter(is_active=True, category__path__startswith=category.path, brand__isnull=False)
        .values("brand_id", "brand__name")
        .annotate(n=Count("id"))
        .order_by("-n", "brand_id")
        .first()
    )
    return row["brand_id"], row["brand__name"], row["n"]


def main() -> None:
    total = Product.objects.filter(is_active=True).count()
    roots = [(subtree_count(c), c) for c in Category.get_root_nodes().filter(is_active=True)]
    big_n, big = max(roots, key=lambda t: t[0])
    leaves = list(
        Category.objects.filter(is_active=True, numchild=0)
        .annotate(n=Count("products"))
        .filter(n__gt=0)
        .order_by("n", "path")
    )
    leaf = leaves[len(leaves) // 2]  # the median leaf: a typical small category
    # A product of the big category, from the middle of its id range: typical, not a best seller.
    ids = Product.objects.filter(is_active=True, category__path__startswith=big.path).order_by("pk")
    product = ids[ids.count() // 2]
    variants = product.variants.count()
    rare, rare_hits = rare_word()
    brand_id, brand_name, brand_n = top_brand(big)
    common_hits = search_hits(COMMON_WORD)
    urls = [
        {"name": "home", "path": "/", "note": "3 product strips"},
        {"name": "listing", "path": "/products/", "note": f"all {total:,} products"},
        {"name": "category (root)", "path": f"/c/{big.slug}/", "note": f"{big.name_en}: {big_n:,} products"},
        {"name": "category (leaf)", "path": f"/c/{leaf.slug}/", "note": f"{leaf.name_en}: {leaf.n:,} products"},
        {
            "name": "search (common)",
            "path": f"/search/?q={quote(COMMON_WORD)}",
            "note": f"“{COMMON_WORD}”: {common_hits:,} hits",
        },
        {"name": "search (rare)", "path": f"/search/?q={quote(rare)}", "note": f"“{rare}”: {rare_hits:,} hits"},
        {
            "name": "search (mid-sized)",
            "path": f"/search/?q={quote(MID_WORD)}",
            "note": f"“{MID_WORD}”: {search_hits(MID_WORD):,} hits",
            "modes": ["uncached"],
        },
        {
            "name": "listing (filtered)",
            "path": f"/c/{big.slug}/?brand={brand_id}",
            "note": f"{big.name_en}, brand {brand_name}: {brand_n:,} products",
        },
        {"name": "product", "path": f"/p/{product.slug}/", "note": f"{variants} variants"},
    ]
    json.dump({"products": total, "urls": urls}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
