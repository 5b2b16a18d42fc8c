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


_ACTIONS = {"react": {"cid", "emoji"}, "unreact": {"cid"}, "repost": {"cid"}, "unrepost": {"cid"},
            "edit": {"cid", "text"}, "delete": {"cid"}, "follow": {"name", "alias", "force"},
            **{k: {"name"} for k in ("unfollow", "mute", "unmute", "block", "unblock", "accept",
                                     "ignore")},
            "profile": {"display_name", "bio", "avatar"}}
_ATTACHMENT = {"name", "sha256", "size", "alt"}
_POST = {"id", "created", "kind", "text", "reply_to", "quote", "cw", "sensitive", "card", "to", "attachments",
         "plain"}


def _independent_profile_ok(b: dict[str, Any]) -> bool:
    name, bio, avatar = b.get("display_name"), b.get("bio"), b.get("avatar")
    if not all(v is None or isinstance(v, str) for v in (name, bio)) or (name, bio, avatar) == (None,) * 3:
        return False
    if (name is not None and len(name.encode()) > 100) or (bio is not None and len(bio.encode()) > 2000):
        return False
    return avatar is None or (isinstance(avatar, dict) and set(avatar) == {"name", "sha256", "size"}
                              and isinstance(avatar["name"], str) and "/" not in avatar["name"]
                              and isinstance(avatar["sha256"], str)
                              and re.fullmatch(r"[0-9a-f]{64}", avatar["sha256"]) is not None
                              and type(avatar["size"]) is int and 0 < avatar["size"] <= 5 * 1024 * 1024)


def independent_handover_ok(b: Any) -> bool:
    """FORMAT.md 17.4's handover table, written out again without ipfeed (the text rules of
    sections 3 and 9 aside: every vector's text is short and plain)."""
    if not isinstance(b, dict) or not isinstance(b.get("id"), str):
        return False
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", b["id"]) or type(b.get("created")) is not int \
            or b["created"] <= 0:
        return False
    kind = b.get("kind", "post")
    if kind != "post":
        allowed = _ACTIONS.get(kind)
        if allowed is None or set(b) - {"id", "created", "kind"} - allowed:
            return False
        if kind == "profile":
            return _independent_profile_ok(b)
        target = b.get("cid" if "cid" in allowed else "name")
        return isinstance(target, str) and 1 <= len(target) <= 200 and all(
            isinstance(b.get(k, ""), str) for k in ("emoji", "text", "alias")) and \
            type(b.get("force", False)) is bool
    if set(b) - _POST or not isinstance(b.get("text"), str):
        return False
    if not all(b.get(k) is None or isinstance(b[k], str) for k in ("reply_to", "quote")):
        return False
    to, atts = b.get("to", []), b.get("attachments", [])
    if not isinstance(to, list) or len(to) > 32 or not all(isinstance(n, str) and n for n in to):
        return False
    if not isinstance(atts, list) or len(atts) > 8:
        return False
    if type(b.get("plain", False)) is not bool or (b.get("plain") and (
            b.get("reply_to") or b.get("quote") or b.get("cw") or b.get("sensitive") or to or atts)):
        return False
    for a in atts:
        if not isinstance(a, dict) or not {"name", "sha256", "size"} <= set(a) <= _ATTACHMENT:
            return False
        name = a["name"]
        if not isinstance(name, str) or "/" in name or "\\" in name or name in ("", ".", ".."):
            return False
        if not isinstance(a["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", a["sha256"]):
            return False
        if type(a["size"]) is not int or not 0 <= a["size"] <= 64 * 1024 * 1024:
            return False
    return isinstance(b.get("cw", ""), str) and all(type(b.get(k, True)) is bool
                                                    for k in ("sensitive", "card"))


@pytest.mark.parametrize("case", VECTORS["handovers"], ids=lambda c: c["comment"])
def test_handover_vectors_by_an_independent_reading(case: dict[str, Any]) -> None:
    assert independent_handover_ok(case["body"]) is case["ok"]
