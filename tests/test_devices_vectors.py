"""The vectors of FORMAT.md section 17 (tests/data/devices-vectors.json), checked against
ipfeed and against the rule written out here independently (hashlib, re)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ipfeed import devices, handover
from ipfeed.errors import InvalidInput

VECTORS = json.loads((Path(__file__).parent / "data" / "devices-vectors.json").read_text())


def independent_normalize(typed: str) -> str:
    return "".join(ch for ch in typed if not ch.isspace() and ch != "-").upper()


@pytest.mark.parametrize("case", VECTORS["codes"], ids=lambda c: c["comment"])
def test_code_vectors(case: dict[str, Any]) -> None:
    assert devices.normalize_code(case["typed"]) == independent_normalize(case["typed"]) == case["code"]
    assert devices.digest(case["code"]) == hashlib.sha256(case["code"].encode()).hexdigest() == case["sha256"]
    assert re.fullmatch(f"[{devices.CODE_ALPHABET}]{{12}}", case["code"])


@pytest.mark.parametrize("case", VECTORS["credentials"], ids=lambda c: c["comment"])
def test_credential_vectors(case: dict[str, Any]) -> None:
    assert re.fullmatch(r"ipfd_[A-Za-z0-9_-]{43}", case["token"])
    assert devices.digest(case["token"]) == case["sha256"]


@pytest.mark.parametrize("case", VECTORS["handovers"], ids=lambda c: c["comment"])
def test_handover_vectors(case: dict[str, Any]) -> None:
    if case["ok"]:
        h = handover.parse(case["body"])
        defaults: dict[str, Any] = ({"reply_to": None, "cw": "", "sensitive": False, "card": True,
                                     "quote": None, "to": [], "attachments": []}
                                    if case["body"].get("kind", "post") == "post" else
                                    {"emoji": "", "text": "", "alias": "", "force": False})
        kind = case["body"].get("kind", "post")
        fields = handover.FIELDS if kind == "post" else handover.ACTION_FIELDS[kind]
        expected = {**{k: v for k, v in defaults.items() if k in fields}, **case["body"]}
        assert h.to_json() == expected
        assert handover.load(h.to_json()) == h  # as a device's outbox keeps it
    else:
        with pytest.raises(InvalidInput, match=re.escape(case["error"])):
            handover.parse(case["body"])
