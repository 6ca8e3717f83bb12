"""Search text for Chinese and English: jieba segments Chinese so PostgreSQL can index it.

PostgreSQL's parsers do not split Chinese: to_tsvector('simple', '纯棉圆领T恤') is one token.
We segment with jieba (search mode, which also emits the shorter words inside long ones) and
index the space-joined tokens with the 'simple' configuration; queries are segmented the
same way, so "纯棉" and "T恤" both match "纯棉圆领T恤".
"""

import re
from functools import lru_cache

import jieba

jieba.setLogLevel(60)
_WORD = re.compile(r"\w", re.UNICODE)


@lru_cache(maxsize=1)
def _ready() -> bool:
    jieba.initialize()
    return True


def segment(text: str) -> list[str]:
    """Lowercased search tokens of a text, punctuation and blanks dropped, order kept."""
    _ready()
    seen: dict[str, None] = {}
    for token in jieba.cut_for_search(text or ""):
        token = token.strip().lower()
        if token and _WORD.search(token):
            seen.setdefault(token, None)
    return list(seen)


def search_document(product) -> str:
    parts = [
        product.name,
        product.name_en,
        product.brand.name,
        product.brand.name_en,
        product.category.name,
        product.category.name_en,
        product.summary,
        product.summary_en,
    ]
    return " ".join(segment(" ".join(p for p in parts if p)))


def tsquery(text: str) -> str | None:
    """A raw tsquery ANDing the query's tokens; the last one also matches as a prefix."""
    tokens = segment(text)[:12]
    if not tokens:
        return None
    quoted = ["'" + t.replace("'", "''").replace("\\", "") + "'" for t in tokens]
    quoted[-1] += ":*"
    return " & ".join(quoted)
