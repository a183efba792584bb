"""Hypothesis strategies for hostile path names and contents models."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st

# Names that try to leave the root or confuse a storage, and odd but legal Unicode.
SPECIAL_SEGMENTS = [
    ".",
    "..",
    "...",
    ".hidden",
    "\x00",
    "a\x00b",
    "\\",
    "..\\..",
    "a\\b",
    "a/../..",
    "../secret.txt",
    "/",
    "secret.txt",
    "root-sibling",
    "other",
    "notes.txt",
    "%2e%2e",
    "%00",
    "~",
    "*",
    "?",
    "#",
    ";",
    " ",
    " lead and trail ",
    "NUL",
    "con.txt",
    "\u202eevil\u202dtxt.exe",  # right-to-left override
    "\u05e9\u05dc\u05d5\u05dd.txt",  # Hebrew
    "e\u0301",  # é, decomposed (NFD)
    "\u00e9",  # é, composed (NFC)
    "\u0041\u030a\u0301\u0323",  # stacked combining marks
    "\U0001f600",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # ZWJ sequence
    "\ufeffbom",
    "zero\u200bwidth",
    "\ud800",  # lone high surrogate
    "\udcff",  # surrogate-escaped byte 0xff
    "x\udc80y",
    "x" * 255,
    "x" * 256,
    "\u00e9" * 127 + "x",  # 255 bytes
    "\u00e9" * 128,  # 256 bytes
    "\u20ac" * 85,  # 255 bytes
    "\U0001f600" * 64,  # 256 bytes
    "y" * 5000,
]

segments = st.one_of(
    st.sampled_from(SPECIAL_SEGMENTS),
    st.text(min_size=1, max_size=16),
    st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=12),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
    st.text(st.sampled_from("a\u00e9\u20ac\U0001f600"), min_size=60, max_size=300),
)

# Deep paths of names at the 255-byte limit: up to 11 (2.8 KB, storable) or 17 or more
# (over 4096 bytes, refused). Between the two, reva's local driver adds its own data folder to
# the path and fails with an internal error before 4096 bytes are reached (see README.md in
# this folder): the gap is left out on purpose.
deep_paths = st.builds(
    lambda n, ch: [ch * 255] * n,
    st.one_of(st.integers(1, 11), st.integers(17, 20)),
    st.sampled_from("dz"),
)

paths = st.one_of(st.lists(segments, min_size=1, max_size=5), deep_paths)


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(
            ["", "\udcff", "\x00", "..", "file", "notebook", "directory", "text", "base64", "json"]
        ),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )


json_values = _json_values()

NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

notebook_contents = st.one_of(
    json_values,
    st.just(NOTEBOOK),
    st.fixed_dictionaries(
        {
            "cells": st.one_of(
                st.just([]),
                st.lists(
                    st.fixed_dictionaries(
                        {"cell_type": st.sampled_from(["code", "markdown", "raw", "bogus"])},
                        optional={
                            "source": st.one_of(st.text(max_size=20), json_values),
                            "metadata": st.one_of(st.just({}), json_values),
                            "outputs": st.one_of(st.just([]), json_values),
                            "execution_count": st.one_of(st.none(), json_values),
                            "id": st.text(max_size=10),
                        },
                    ),
                    max_size=2,
                ),
                json_values,
            ),
            "metadata": st.one_of(st.just({}), json_values),
            "nbformat": st.one_of(st.sampled_from([4, 3, 2, 1, 5, 99, 0, -1]), json_values),
            "nbformat_minor": st.one_of(st.sampled_from([0, 4, 5, 99]), json_values),
        }
    ),
)

base64_contents = st.one_of(
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    st.sampled_from(
        ["", "=", "====", "abc", "!!!!", "YQ", "YQ=", "YQ==\n", "\udcff", "\u00e9\u00e9==", "a b c d"]
    ),
    st.text(max_size=24),
)

TYPES = st.sampled_from(["file", "notebook", "directory"])
FORMATS = st.sampled_from(["text", "base64", "json"])

# Mostly plausible models (so that many are accepted and their round trip is checked), with
# every field sometimes replaced by anything JSON can hold.
models = st.fixed_dictionaries(
    {
        "type": st.one_of(TYPES, TYPES, st.sampled_from(["", "FILE", "dir"]), json_values),
        "content": st.one_of(st.text(max_size=40), base64_contents, notebook_contents, json_values),
    },
    optional={
        "format": st.one_of(FORMATS, FORMATS, st.sampled_from(["", "binary"]), json_values),
        "chunk": st.one_of(st.sampled_from([1, 2, -1, 0, -2, 2**63, 2**70]), json_values),
        "path": st.one_of(st.sampled_from(["", "..", "../secret.txt", "x"]), json_values),
        "name": json_values,
        "mimetype": json_values,
        "copy_from": st.one_of(st.sampled_from(["", "zz-fixture/src.txt"]), json_values),
        "ext": st.one_of(st.sampled_from([".txt", ".ipynb", "", "/../x"]), json_values),
    },
)
models_without = st.tuples(models, st.sets(st.sampled_from(["type", "content"]))).map(
    lambda pair: {k: v for k, v in pair[0].items() if k not in pair[1]}
)

# Models that say what they mean (a text file, a base64 file, a notebook, a folder), with
# contents from the hostile strategies above: most are accepted, so their round trip is checked.
coherent_models = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("file"), "format": st.just("text"), "content": st.text(max_size=40)}
    ),
    st.fixed_dictionaries({"type": st.just("file"), "format": st.just("base64"), "content": base64_contents}),
    st.fixed_dictionaries({"type": st.just("notebook"), "content": notebook_contents}),
    st.fixed_dictionaries(
        {"type": st.just("notebook"), "format": st.just("json"), "content": st.just(NOTEBOOK)}
    ),
    st.fixed_dictionaries({"type": st.just("directory")}),
)
