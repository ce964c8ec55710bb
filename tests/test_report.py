"""Hostile text (account names, titles, file names) is made visible, never acted on by a terminal."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidtrace.network_report import evidence_lines
from vidtrace.report import older_fingerprints_note, safe_text, table

#: Bidirectional embedding, override and isolate controls (the "Trojan Source" set).
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_dangerous(ch: str) -> bool:
    """A character a terminal may act on or that changes how the rest of the line is shown."""
    return unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in BIDI_CONTROLS


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("line1\nline2", "line1\\nline2"),
        ("over\rwrite", "over\\rwrite"),
        ("nul\x00byte", "nul\\x00byte"),
        ("tab\there", "tab\\there"),
        ("del\x7f", "del\\x7f"),
        ("csi\x9b2J", "csi\\x9b2J"),  # the 8-bit CSI
        ("user\u202egnp.exe", "user\\u202egnp.exe"),  # right-to-left override
        ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
        ("para\u2029sep\u2028", "para\\u2029sep\\u2028"),
    ],
)
def test_safe_text_makes_control_characters_visible(raw, expected):
    assert safe_text(raw) == expected


@pytest.mark.parametrize("text", ["Ünïcødé 中文", "plain ascii", "emoji 🎬 ok", "עברית", "русский", "a\\nb literal"])
def test_safe_text_keeps_normal_text_intact(text):
    assert safe_text(text) == text


def test_safe_text_of_none_and_non_strings():
    assert safe_text(None) == ""
    assert safe_text(42) == "42"
    assert safe_text(1.5) == "1.5"


def test_safe_text_escapes_lone_surrogates():
    # File names that are not valid UTF-8 arrive as lone surrogates (surrogateescape).
    out = safe_text("bad\udcffname")
    assert out == "bad\\udcffname"
    out.encode("utf-8")  # printable without an error


@settings(deadline=None, max_examples=300)
@given(st.text(alphabet=st.characters(), max_size=60))
def test_safe_text_output_is_always_harmless(text):
    out = safe_text(text)
    assert not any(is_dangerous(ch) for ch in out), repr(out)
    out.encode("utf-8")
    if not any(is_dangerous(ch) for ch in text):
        assert out == text  # harmless text is never altered


@settings(deadline=None, max_examples=100)
@given(st.lists(st.lists(st.text(max_size=20), min_size=3, max_size=3), max_size=6))
def test_table_never_emits_raw_control_characters(rows):
    out = table(("path", "account", "title"), rows)
    body = out[:-1]  # the final newline is the table's own
    assert len(body.split("\n")) == 1 + len(rows)  # one line per row: cells cannot add lines
    assert not any(is_dangerous(ch) for line in body.split("\n") for ch in line)


def test_table_with_hostile_cells():
    rows = [
        ("\x1b[2J\x1b[Hgone", "acct\nFAKE ROW", "title\r\x00\u202eevil"),
        ("ok.mp4", "Ünïcødé 中文", None),
    ]
    out = table(("path", "account", "title"), rows)
    lines = out.split("\n")
    assert out.endswith("\n") and lines[-1] == ""
    assert len(lines[:-1]) == 3
    assert not any(is_dangerous(ch) for line in lines[:-1] for ch in line)
    assert "\\x1b[2J\\x1b[Hgone" in lines[1]
    assert "acct\\nFAKE ROW" in lines[1]
    assert "title\\r\\x00\\u202eevil" in lines[1]
    assert "Ünïcødé 中文" in lines[2]
    # Columns line up on the escaped text.
    assert lines[0].index("account") == lines[1].index("acct") == lines[2].index("Ünïcødé")


def test_csv_neutralises_formula_text_and_keeps_numbers():
    from vidtrace.report import to_csv

    text = to_csv(
        ("=h", "n"),
        [("=HYPERLINK(1)", -1.5), ("+cmd", -2), ("@SUM(1)", 0.5), ("-1.5", None), ("\tx", "ok"), ("\rx", "a-b")],
    )
    assert text.split("\n")[:-1] == [
        "'=h,n",
        "'=HYPERLINK(1),-1.5",
        "'+cmd,-2",
        "'@SUM(1),0.5",
        "'-1.5,",
        "'\tx,ok",
        "'\rx,a-b",
    ]


def test_the_note_on_older_fingerprints_says_what_brings_each_kind_up_to_date():
    note = older_fingerprints_note({(False, 11): 3, (False, 12): 2, (True, 9): 4}, 13)
    assert note == (
        "5 stored video(s) were fingerprinted by an older version of vidtrace (hash version 11, 12, now 13) and "
        "match less well until `vidtrace rescan` fingerprints them again; 4 imported video(s) keep their source's "
        "hash version (9, now 13): they match less well until a newer export from that source is imported"
    )
    assert older_fingerprints_note({}, 13) is None


def test_one_post_stored_under_two_paths_is_listed_once_in_a_groups_evidence():
    first, copy = (
        {"account": "amp_1", "uploaded_at": "2026-06-02T12:00:00Z"},
        {"account": "amp_2", "uploaded_at": "2026-06-02T12:05:00Z"},
    )
    document = {"groups": [{"evidence": [{"cluster": 1, "span_s": 300.0, "uploads": [first, dict(first), copy]}]}]}
    assert evidence_lines(document) == [
        "group 1:",
        "  cluster 1 within 5m: amp_1 2026-06-02T12:00:00Z (2 files), amp_2 2026-06-02T12:05:00Z",
    ]
