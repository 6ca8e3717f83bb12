"""The Simplified Chinese catalogues are complete: no message left untranslated and none marked
fuzzy (gettext skips a fuzzy entry, so its page falls back to English), and every placeholder of
a message id is kept in its translation. Parsed here (polib is not a dependency).

`make messages` refreshes locale/ from the source; new message ids arrive untranslated, and
translating them is part of the change that added them."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

CATALOGUES = sorted(
    path
    for name in ("django.po", "djangojs.po")
    for path in (Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES").glob(name)
)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]|\{\w*\}")


def entries(path: Path) -> list[dict]:
    """The catalogue's entries: msgctxt, msgid, msgid_plural, msgstr (index → text), flags and
    the line each starts on; obsolete entries (#~) are left out, as gettext ignores them."""
    found, entry, key = [], None, None

    def close():
        if entry is not None and "msgid" in entry and not entry["obsolete"]:
            found.append(entry)

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            close()
            entry, key = None, None
            continue
        if entry is None:
            entry = {"line": number, "flags": set(), "msgstr": {}, "obsolete": False}
        if line.startswith("#~"):
            entry["obsolete"] = True
        elif line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith(("msgctxt ", "msgid ", "msgid_plural ")):
            key, _, text = line.partition(" ")
            entry[key] = ast.literal_eval(text)
        elif line.startswith("msgstr"):
            head, _, text = line.partition(" ")
            key = ("msgstr", int(head[7:-1]) if head.startswith("msgstr[") else 0)
            entry["msgstr"][key[1]] = ast.literal_eval(text)
        elif line.startswith('"'):
            if isinstance(key, tuple):
                entry["msgstr"][key[1]] += ast.literal_eval(line)
            else:
                entry[key] += ast.literal_eval(line)
    close()
    return [e for e in found if e["msgid"]]  # the header has an empty id


def label(entry: dict) -> str:
    context = f" (context {entry['msgctxt']!r})" if "msgctxt" in entry else ""
    return f"line {entry['line']}: {entry['msgid']!r}{context}"


def test_there_is_a_chinese_catalogue():
    assert CATALOGUES, "locale/zh_Hans/LC_MESSAGES/django.po is missing"


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda path: path.name)
def test_every_message_is_translated_and_none_is_fuzzy(path):
    found = entries(path)
    assert len(found) > 100  # the parser read the file
    untranslated = [label(e) for e in found if not e["msgstr"] or not all(e["msgstr"].values())]
    fuzzy = [label(e) for e in found if "fuzzy" in e["flags"]]
    assert not untranslated, f"{len(untranslated)} untranslated in {path}:\n" + "\n".join(untranslated)
    assert not fuzzy, f"{len(fuzzy)} fuzzy in {path}:\n" + "\n".join(fuzzy)


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda path: path.name)
def test_translations_keep_the_placeholders(path):
    wrong = []
    for e in entries(path):
        wanted = sorted(PLACEHOLDER.findall(e["msgid"]))
        for text in e["msgstr"].values():
            if text and sorted(PLACEHOLDER.findall(text)) != wanted:
                wrong.append(f"{label(e)} → {text!r}")
    assert not wrong, "placeholders changed:\n" + "\n".join(wrong)


def test_the_parser_reads_what_gettext_reads(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: zh_Hans\\n"\n\n'
        '#: a.py:1\nmsgid "Order"\nmsgstr "订单"\n\n'
        '#, fuzzy\nmsgid "Orders"\nmsgstr "订单列表"\n\n'
        'msgctxt "order tracking"\nmsgid "History"\nmsgstr ""\n\n'
        'msgid ""\n"Two "\n"lines"\nmsgstr ""\n"两"\n"行"\n\n'
        'msgid "%(n)d item"\nmsgid_plural "%(n)d items"\nmsgstr[0] "%(n)d 件"\n\n'
        '#~ msgid "Gone"\n#~ msgstr ""\n',
        encoding="utf-8",
    )
    found = {e["msgid"]: e for e in entries(po)}
    assert set(found) == {"Order", "Orders", "History", "Two lines", "%(n)d item"}
    assert found["Two lines"]["msgstr"] == {0: "两行"}
    assert "fuzzy" in found["Orders"]["flags"] and found["History"]["msgctxt"] == "order tracking"
    assert found["History"]["msgstr"] == {0: ""}
    assert found["%(n)d item"]["msgid_plural"] == "%(n)d items" and found["%(n)d item"]["msgstr"] == {0: "%(n)d 件"}
