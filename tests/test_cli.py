"""The CLI surface: --home, init, id, errors as one line; and the public API pinned."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DATA, User, run

from ipfeed import Service, Settings
from ipfeed.cli import cli


def test_init_with_home_flag_then_second_init_is_a_noop_and_says_how_to_rename(tmp_path: Path) -> None:
    home = tmp_path / "h"
    runner = CliRunner()
    first = runner.invoke(cli, ["--home", str(home), "init", "--name", "Zoe"], env={"IPFEED_API": ""})
    assert first.exit_code == 0, first.output
    assert "created identity k51" in first.stdout
    key = home / "identity.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = key.read_bytes()
    second = runner.invoke(cli, ["--home", str(home), "init"])
    assert second.exit_code == 0 and "already initialized" in second.stdout
    same = runner.invoke(cli, ["--home", str(home), "init", "--name", "Zoe"])  # already so: fine
    assert same.exit_code == 0 and "already initialized" in same.stdout
    renamed = runner.invoke(cli, ["--home", str(home), "init", "--name", "Zoë's cat"])
    assert renamed.exit_code == 1, renamed.output  # asked for a name it did not set: an error
    assert "ipfeed profile set --name 'Zoë'\"'\"'s cat'" in renamed.output, renamed.output
    assert "Traceback" not in renamed.output
    assert key.read_bytes() == before
    assert Service(Settings.from_env({}).with_(home=home)).own_profile().name == "Zoe"
    name = runner.invoke(cli, ["--home", str(home), "id"]).stdout.strip()
    assert name in first.stdout


def test_id_without_init_is_one_clear_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["--home", str(tmp_path / "empty"), "id"])
    assert r.exit_code == 1
    assert r.output.strip().endswith("run `ipfeed init`") and r.output.count("\n") == 1


def test_key_readable_by_others_stops_every_command(tmp_path: Path) -> None:
    home = tmp_path / "h"
    CliRunner().invoke(cli, ["--home", str(home), "init"])
    (home / "identity.key").chmod(0o644)
    r = CliRunner().invoke(cli, ["--home", str(home), "post", "hi"])
    assert r.exit_code == 1 and "accessible by other users" in r.output


def test_bad_reply_to_and_oversize_text_are_refused_before_anything_is_saved(tmp_path: Path) -> None:
    home = tmp_path / "h"
    runner = CliRunner()
    runner.invoke(cli, ["--home", str(home), "init", "--no-recovery"])  # so the outbox holds no entry
    r = runner.invoke(cli, ["--home", str(home), "post", "x", "--reply-to", "nonsense"])
    assert r.exit_code == 1 and "is not a CID" in r.output
    r = runner.invoke(cli, ["--home", str(home), "post", "x" * 8001])
    assert r.exit_code == 1
    assert "your text is 8001 characters (8001 bytes); the limit is 8000 bytes" in r.output
    r = runner.invoke(cli, ["--home", str(home), "post", ""])
    assert r.exit_code == 1 and "text is empty" in r.output and "bafy" not in r.output
    for blank in ("   ", "\n\t\u200b\u00a0"):
        r = runner.invoke(cli, ["--home", str(home), "post", blank])
        assert r.exit_code == 1 and "text is only white space" in r.output and "bafy" not in r.output
    from ipfeed.outbox import Outbox
    box = Outbox(home / "outbox.sqlite")
    try:
        assert box.drafts() == [] and box.count_posts() == 0
    finally:
        box.close()


def test_avatar_and_attachment_rules_are_said_and_checked_before_publishing(tmp_path: Path) -> None:
    home = tmp_path / "h"
    runner = CliRunner()
    runner.invoke(cli, ["--home", str(home), "init"])
    script = tmp_path / "avatar.py"
    script.write_text("print('not an image')\n")
    r = runner.invoke(cli, ["--home", str(home), "profile", "set", "--avatar", str(script)])
    assert r.exit_code == 1 and "avatar.py: an avatar must be a PNG, JPEG, GIF or WebP image" in r.output
    big = tmp_path / "big.png"
    big.write_bytes(bytes.fromhex("89504e470d0a1a0a") + bytes(5 * 2**20))
    r = runner.invoke(cli, ["--home", str(home), "profile", "set", "--avatar", str(big)])
    assert r.exit_code == 1
    assert "big.png is 5242888 bytes, over the limit of 5242880 bytes (5 MiB)" in r.output
    assert "PNG, JPEG, GIF or WebP image, up to 5 MiB" in runner.invoke(
        cli, ["profile", "set", "--help"]).output
    helped = " ".join(runner.invoke(cli, ["post", "--help"]).output.split())
    assert "any type, up to 64 MiB" in helped and "alias or display name of a feed you follow" in helped
    assert "--force" in runner.invoke(cli, ["follow", "--help"]).output


def test_post_from_stdin(alice: User) -> None:
    r = alice.cli("post", "-", input="multi\nline\n")
    assert r.exit_code == 0, r.output
    out = json.loads(alice.cli_ok("show", alice.service.identity().name, "--json"))
    assert out["posts"][0]["text"] == "multi\nline\n"


def test_post_many_from_json_lines_publishes_all_in_order(alice: User, tmp_path: Path) -> None:
    texts = [f"line {i} ✓" for i in range(7)] + ["two\nlines"]
    src = tmp_path / "posts.jsonl"
    src.write_text("\n".join(json.dumps(t) for t in texts[:4]) + "\n\n" +
                   "\n".join(json.dumps(t) for t in texts[4:]) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('"fine"\n{"text": "not a string"}\n', encoding="utf-8")
    r = alice.cli("post", "--many", str(bad))
    assert r.exit_code == 1 and "line 2: a JSON string is expected" in r.output
    assert alice.service.drafts() == []  # nothing of a bad file is saved
    assert "(8 posts, 8 newly signed)" in alice.cli_ok("post", "--many", str(src))
    name = alice.service.identity().name
    shown = json.loads(alice.cli_ok("show", name, "--json", "--limit", "20"))
    assert [p["text"] for p in reversed(shown["posts"])] == texts  # chain verified by `show`
    # signed a chunk at a time while the node stores the chunk before: the same chain
    result = run(alice.service.post_many(["a", "b", "c", "d", "e"], chunk=2))
    assert result.count == 13 and result.sealed == 5
    shown = json.loads(alice.cli_ok("show", name, "--json", "--limit", "20"))
    assert [p["text"] for p in shown["posts"][:5]] == ["e", "d", "c", "b", "a"]


def test_cid_computed_locally_is_the_cid_kubo_stores(alice: User) -> None:
    vectors = json.loads((DATA / "vectors.json").read_text())["objects"]

    async def roundtrip() -> list[Any]:
        async with await alice.kubo() as k:
            return [(await k.block_put(bytes.fromhex(v["hex"])),
                     await k.block_get(v["cid"], 1 << 20)) for v in vectors]
    for v, (cid, data) in zip(vectors, run(roundtrip()), strict=True):
        assert cid == v["cid"] and data.hex() == v["hex"]


def test_remote_text_cannot_send_escape_sequences_to_the_terminal() -> None:
    from ipfeed.cli.terminal import safe_for_terminal as safe

    assert safe("FORK\x1b[1A\x1b[2Khidden\x07") == "FORK\\x1b[1A\\x1b[2Khidden\\x07"
    assert safe("plain text, ünïcode ✓") == "plain text, ünïcode ✓"
    assert safe("C1: \x85\x9b31m é") == "C1: \\x85\\x9b31m é"


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    import dataclasses
    import re

    from ipfeed.config import Settings

    root = Path(__file__).resolve().parents[1]
    source = "".join(p.read_text() for folder in ("ipfeed", "web") for p in (root / folder).rglob("*.py"))
    names = {f"IPFEED_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    names |= set(re.findall(r"IPFEED_[A-Z_]+[A-Z]", source))
    readme = (root / "README.md").read_text()
    assert sorted(n for n in names if n not in readme) == []


@pytest.mark.parametrize("c", ["\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)),
                               *map(chr, range(0x2066, 0x206A))], ids=lambda c: f"U+{ord(c):04X}")
def test_bidi_controls_in_remote_text_are_shown_not_obeyed(c: str) -> None:
    from ipfeed.cli.terminal import safe_for_terminal as safe

    assert safe(f"alice{c}ecila é") == f"alice\\u{ord(c):04x}ecila é"


def test_runs_of_combining_marks_are_cut_to_three() -> None:
    from ipfeed.cli.terminal import safe_for_terminal as safe

    zalgo = "Z" + "\u0301\u0302\u0303\u0304\u0305" * 20 + "o" + "\u20dd" * 5  # Mn, then Me
    assert safe(zalgo) == "Z\u0301\u0302\u0303" + "o" + "\u20dd" * 3
    assert safe("e\u0301\u0323 ok") == "e\u0301\u0323 ok"  # real text keeps its marks
    assert safe("\u0915\u094d\u0937") == "\u0915\u094d\u0937"  # Devanagari conjunct


def test_show_prints_a_hostile_profile_and_post_defanged(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """Every remote string _print_feed shows goes through the one rule."""
    from types import SimpleNamespace

    from ipfeed.cli import feeds as cli_mod

    evil = "x\u202eexe.txt\x1b[2J" + "\u0301" * 9
    view: Any = SimpleNamespace(
        name="k51", root=SimpleNamespace(profile=SimpleNamespace(name=evil, bio=evil), count=1, updated=0),
        posts=[None], post_json=lambda _: {"seq": 1, "created": 0, "cid": "b", "private": False,
                                           "reply_to": None, "text": evil,
                                           "attachments": [{"name": evil, "type": "t/t", "size": 1,
                                                            "cid": "b"}]})
    out: list[str] = []
    monkeypatch.setattr(cli_mod.click, "echo", lambda s="", **_: out.append(str(s)))
    cli_mod.print_feed(view)
    text = "\n".join(out)
    assert "\u202e" not in text and "\x1b" not in text and "\u0301" * 4 not in text
    assert text.count("x\\u202eexe.txt\\x1b[2J") == 4


@pytest.mark.parametrize("argv", [["show", "k"], ["show", "\x00"], ["follow", "b"], ["unfollow", "z"],
                                  ["sync", "u"], ["post", "--reply-to", "k", "hi"]], ids=" ".join)
def test_junk_name_or_cid_is_one_line_not_a_traceback(tmp_path: Path, argv: list[str]) -> None:
    home = tmp_path / "h"
    runner = CliRunner()
    assert runner.invoke(cli, ["--home", str(home), "init"], env={"IPFEED_API": ""}).exit_code == 0
    r = runner.invoke(cli, ["--home", str(home), *argv], env={"IPFEED_API": ""})
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output and r.output.count("\n") == 1
    assert "is not an IPNS name" in r.output or "is not a CID" in r.output


def test_attaching_a_file_whose_name_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    import os

    home = tmp_path / "h"
    runner = CliRunner()
    assert runner.invoke(cli, ["--home", str(home), "init"], env={"IPFEED_API": ""}).exit_code == 0
    raw = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    with open(raw, "wb") as f:
        f.write(b"hello")
    r = runner.invoke(cli, ["--home", str(home), "post", "hi", "--attach", os.fsdecode(raw)],
                      env={"IPFEED_API": ""})
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit)  # was UnicodeEncodeError
    assert "Traceback" not in r.output and r.output.count("\n") == 1
    assert "caf\\xe9.txt" in r.output and "not valid UTF-8" in r.output
    assert not (home / "outbox-files").exists() or not os.listdir(home / "outbox-files")
