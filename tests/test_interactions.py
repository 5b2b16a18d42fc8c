"""Reactions, reposts, quotes, edits and deletions (FORMAT.md sections 8 and 12): across real
nodes (Alice, Bob and Carol), and the rules that refuse or hold back an entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULTS, User, run, sign_object

from ipfeed import codec, kinds
from ipfeed.content import Ref
from ipfeed.contentblock import build_content
from ipfeed.entry import Entry, build_entry, parse_chained, parse_entry
from ipfeed.errors import InvalidEntry, InvalidInput
from ipfeed.identity import Identity
from ipfeed.index import Index
from ipfeed.outbox import Outbox

NOW = 1_700_000_000_000


def _content_of(user: User, cid: str) -> str:
    """The content block CID of one of the user's own post or edit entries."""
    box = Outbox(user.settings.outbox_path)
    try:
        for _, block in box.post_blocks(0):
            e = parse_chained(block)
            if e.cid == cid:
                assert isinstance(e, Entry) and e.content
                return e.content
    finally:
        box.close()
    raise AssertionError(f"{cid} is not in {user.home}'s outbox")


def _newest_entry(user: User) -> str:
    box = Outbox(user.settings.outbox_path)
    try:
        return codec.cid_of(list(box.post_blocks(0))[-1][1])
    finally:
        box.close()


async def _pinned_anyhow(user: User, cid: str) -> bool:
    """Whether the user's node keeps `cid` by any pin: direct, recursive or under one."""
    async with await user.kubo() as k:
        return await k.pinned(cid, "all")


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_reactions_reposts_quotes_edits_and_deletes_reach_every_follower(make_user: Any,
                                                                        defaults: str) -> None:
    alice, bob, carol = (make_user(n, defaults=defaults) for n in ("alice", "bob", "carol"))
    bob.connect(alice)
    carol.connect(alice)
    carol.connect(bob)
    for u in (alice, bob, carol):
        run(u.service.publish())
    a, b = alice.service.identity().name, bob.service.identity().name
    first = alice.cli_ok("post", "hello #IPFS world", "--no-card").strip()
    other = alice.cli_ok("post", "another one", "--no-card").strip()
    run(bob.service.follow(a))
    run(bob.service.sync(force=True))

    assert "reacted" in bob.cli_ok("react", first)
    assert "reposted" in bob.cli_ok("repost", first)
    quote = bob.cli_ok("post", "--quote", first, "--no-card", "look at this").strip()
    bob.cli_ok("react", first, "🎉")  # reacting twice: the newest counts, once

    run(carol.service.follow(a))
    run(carol.service.follow(b))
    run(carol.service.sync(force=True))
    seen, _ = carol.service.indexed_post(first)
    assert seen is not None
    assert (seen.likes, seen.reactions, seen.reposts, seen.quotes) == (1, {"🎉": 1}, 1, 1)
    assert seen.tags == ["ipfs"]
    timeline = carol.service.timeline()
    quoted = next(p for p in timeline if p.cid == quote)
    assert quoted.quote == first and quoted.text == "look at this"
    assert any(p.cid == first and p.reposted_by == b for p in timeline)  # Bob's repost, as Bob's
    tagged = [(p.cid, p.reposted_by) for p in carol.service.timeline(tag="#ipfs")]
    assert tagged == [(first, b), (first, None)]  # the post, and Bob's repost of it
    mine, _ = bob.service.indexed_post(first)
    assert mine is not None and mine.my_reaction == "🎉" and mine.reposted
    out = json.loads(carol.cli_ok("timeline", "--json"))
    row = next(p for p in out["posts"] if p["cid"] == first and not p["reposted_by"])
    assert (row["likes"], row["reposts"], row["quotes"], row["tags"]) == (1, 1, 1, ["ipfs"])

    old_content = _content_of(alice, first)
    alice.cli_ok("edit", first, "hello again #IPFS")
    edit_content = _content_of(alice, _newest_entry(alice))
    for u in (bob, carol):
        run(u.service.sync(force=True))
        p, _ = u.service.indexed_post(first)
        assert p is not None and p.text == "hello again #IPFS" and p.edited is not None
        assert [v.text for v in u.service.history(first)] == ["hello again #IPFS", "hello #IPFS world"]
    assert run(_pinned_anyhow(bob, old_content)) and run(_pinned_anyhow(bob, edit_content))
    shown = json.loads(bob.cli_ok("show", a, "--json"))
    assert [p["text"] for p in shown["posts"]] == ["another one", "hello again #IPFS"]

    assert "deleted" in alice.cli_ok("delete", first, "--yes")
    for u in (bob, carol):
        run(u.service.sync(force=True))
        assert u.service.indexed_post(first)[0] is None
        assert first not in [p.cid for p in u.service.timeline()]
        assert u.service.search("hello") == [] and u.service.search("#ipfs") == []
        assert [p.cid for p in u.service.timeline() if p.name == a] == [other]
        shown_gone = u.cli("show", first)  # a deleted post's CID: said so, none of its text
        assert shown_gone.exit_code != 0 and "was deleted by its author" in shown_gone.output
        assert "hello" not in shown_gone.output
    # Honouring the deletion: Bob's node keeps neither version of the deleted post.
    assert not run(_pinned_anyhow(bob, old_content))
    assert not run(_pinned_anyhow(bob, edit_content))
    assert run(_pinned_anyhow(bob, _content_of(alice, other)))
    assert [p["cid"] for p in json.loads(carol.cli_ok("show", a, "--json"))["posts"]] == [other]



@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_deletion_synced_with_a_refused_file_in_the_feed_leaves_no_pin_holding_it(
        make_user: Any, defaults: str, monkeypatch: Any, tmp_path: Path) -> None:
    """Bob's first sync pins Alice's root recursively; a file over its declared size then
    keeps Bob on direct pins; a later deletion must still drop that first recursive pin
    (it holds the deleted content), keeping every entry and live content pinned."""
    import os
    import subprocess

    from ipfeed import node, publishing
    from ipfeed.contentblock import Attachment
    alice, bob = make_user("alice", defaults=defaults), make_user("bob", defaults=defaults)
    bob.connect(alice)
    run(alice.service.publish())
    a = alice.service.identity().name
    doomed = alice.cli_ok("post", "delete me later", "--no-card").strip()
    kept = alice.cli_ok("post", "keep me", "--no-card").strip()
    run(bob.service.follow(a))
    run(bob.service.sync(force=True))
    first_root = bob.service.feed_state(a).root_cid  # type: ignore[union-attr]

    async def recursive_pins() -> list[str]:
        async with await bob.kubo() as k:
            return await k.pins("recursive")
    assert first_root in run(recursive_pins())  # a first sync: one recursive pin of the root

    real_add = publishing._add_attachments

    async def lying(kubo: Any, d: Any) -> tuple[Attachment, ...]:  # a writer that lies about sizes
        return tuple(Attachment(x.cid, x.type, 10, x.name) for x in await real_add(kubo, d))
    monkeypatch.setattr(publishing, "_add_attachments", lying)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(600_000))
    liar = alice.cli_ok("post", "a tiny file", "--attach", str(big), "--no-card").strip()
    monkeypatch.setattr(publishing, "_add_attachments", real_add)
    run(bob.service.sync(force=True))
    [shown] = [p for p in bob.service.timeline() if p.cid == liar]
    assert "over its declared size of 10" in shown.attachments[0]["refused"]
    assert bob.service.attachment(liar, shown.attachments[0]["cid"]) is None  # never served
    assert first_root in run(recursive_pins())  # direct pins since: the first root still held

    doomed_content = _content_of(alice, doomed)
    assert run(_pinned_anyhow(bob, doomed_content))
    assert "deleted" in alice.cli_ok("delete", doomed, "--yes")
    run(bob.service.sync(force=True))
    assert bob.service.indexed_post(doomed)[0] is None
    assert not run(_pinned_anyhow(bob, doomed_content))  # no pin of any kind holds it
    assert first_root not in run(recursive_pins())
    box = Outbox(alice.settings.outbox_path)
    try:
        chain = [codec.cid_of(b) for _, b in box.post_blocks(0)]
    finally:
        box.close()
    assert len(chain) == 4  # every entry (the deleted post's envelope too) stays pinned
    live = [_content_of(alice, kept), _content_of(alice, liar)]
    assert all(run(_pinned_anyhow(bob, c)) for c in chain + live)
    gc = subprocess.run([node.find_ipfs(bob.settings), "repo", "gc", "--quiet"],
                        env=node.ipfs_env(bob.settings), capture_output=True, text=True,
                        timeout=120, check=False)
    assert gc.returncode == 0, gc.stderr
    assert [p.text for p in bob.service.timeline() if p.name == a] == ["a tiny file", "keep me"]
    assert json.loads(bob.cli_ok("show", a, "--json"))["posts"][1]["text"] == "keep me"

def test_an_edit_by_another_author_is_rejected_naming_the_rule() -> None:
    alice, mallory = Identity.generate(), Identity.generate()
    post = build_entry(alice, seq=1, prev=None, created=NOW, kind=kinds.POST,
                       content=build_content("mine").cid)
    forged = {"type": "ipfeed.entry", "v": 2, "author": mallory.public, "seq": 1, "created": NOW,
              "kind": kinds.EDIT, "body": {"subject": Ref(post.cid, alice.public).to_obj()},
              "content": codec.cid_to_bytes(build_content("not yours").cid)}
    with pytest.raises(InvalidEntry, match="own-subject"):
        parse_entry(sign_object(forged, mallory))
    with pytest.raises(InvalidInput, match="own-subject"):
        build_entry(mallory, seq=1, prev=None, created=NOW, kind=kinds.EDIT,
                    body=kinds.Edit(Ref(post.cid, alice.public)), content=build_content("x").cid)
    forged_delete = {k: v for k, v in forged.items() if k != "content"} | {"kind": kinds.DELETE}
    block = sign_object(forged_delete, mallory)
    with pytest.raises(InvalidEntry, match="own-subject") as refused:
        parse_entry(block)
    assert codec.cid_of(block) in str(refused.value)  # the rejection names the entry
    with pytest.raises(InvalidInput, match="own-subject"):
        build_entry(mallory, seq=1, prev=None, created=NOW, kind=kinds.DELETE,
                    body=kinds.Delete(Ref(post.cid, alice.public)))


def _index(tmp_path: Path) -> Index:
    return Index(tmp_path / "index.sqlite")


def _root_for(index: Index, name: str) -> Any:
    from ipfeed import feed
    return feed.build(Identity.generate(), seq=1, updated=NOW, profile=feed.Profile(), count=0, recent=[])


def _alice_post(alice: Identity, text: str = "a post") -> tuple[Entry, Any]:
    c = build_content(text)
    return build_entry(alice, seq=1, prev=None, created=NOW, kind=kinds.POST, content=c.cid), c


def _reaction(bob: Identity, seq: int, prev: str | None, subject: Entry, emoji: str) -> Entry:
    from ipfeed.post import skip_target
    assert skip_target(seq) is None
    return build_entry(bob, seq=seq, prev=prev, created=NOW + seq, kind=kinds.REACTION,
                       body=kinds.Reaction(Ref(subject.cid, subject.author), emoji))


def test_a_reaction_waits_pending_until_its_subject_arrives_and_counts_once(tmp_path: Path) -> None:
    from ipfeed.identity import name_from_public
    alice, bob = Identity.generate(), Identity.generate()
    post, content = _alice_post(alice)
    first = _reaction(bob, 1, None, post, "👍")
    second = _reaction(bob, 2, first.cid, post, "❤")
    index = _index(tmp_path)
    root = _root_for(index, "x")
    index.apply(name_from_public(bob.public), root, [first], NOW, None, None, None)
    assert index.entry(first.cid) == (name_from_public(bob.public), 1, kinds.REACTION, post.cid, "pending")
    index.apply(name_from_public(alice.public), root, [post], NOW, None, None, None,
                contents={content.cid: content})
    p = index.post(post.cid)
    assert p is not None and (p.likes, p.reactions) == (1, {"👍": 1})  # counted now, not before
    index.apply(name_from_public(bob.public), root, [second], NOW, None, None, None)
    index.apply(name_from_public(bob.public), root, [second], NOW, None, None, None)  # redelivered
    p = index.post(post.cid)
    assert p is not None and (p.likes, p.reactions) == (1, {"❤": 1})  # reacting twice: once, newest


@pytest.mark.parametrize("edit_first", [True, False], ids=["edit-before-subject", "subject-first"])
def test_an_edit_of_an_entry_that_is_not_a_post_is_rejected_once_known(tmp_path: Path,
                                                                      edit_first: bool) -> None:
    from ipfeed.identity import name_from_public
    from ipfeed.post import skip_target
    alice = Identity.generate()
    post, content = _alice_post(alice)  # seq 1
    reaction = build_entry(alice, seq=2, prev=post.cid, created=NOW + 2, kind=kinds.REACTION,
                           body=kinds.Reaction(Ref(post.cid, alice.public), "❤"))
    c = build_content("an edit of a reaction")
    edit = build_entry(alice, seq=3, prev=reaction.cid, created=NOW + 3, kind=kinds.EDIT,
                       body=kinds.Edit(Ref(reaction.cid, alice.public)), content=c.cid,
                       skip=post.cid if skip_target(3) == 1 else None)
    index = _index(tmp_path)
    root = _root_for(index, "x")
    name = name_from_public(alice.public)
    index.apply(name, root, [post], NOW, None, None, None, contents={content.cid: content})
    order = [[edit], [reaction]] if edit_first else [[reaction], [edit]]
    index.apply(name, root, order[0], NOW, None, None, None, contents={c.cid: c})
    if edit_first:
        assert index.entry(edit.cid)[4] == "pending"  # type: ignore[index]
    index.apply(name, root, order[1], NOW, None, None, None, contents={c.cid: c})
    assert index.entry(edit.cid)[4] == "rejected"  # type: ignore[index]
    why = index.db.execute("SELECT why FROM entries WHERE cid = ?", (edit.cid,)).fetchone()[0]
    assert "edit-of-post" in why
    p = index.post(post.cid)
    assert p is not None and p.edited is None and p.likes == 1


def test_a_reaction_whose_ref_names_the_wrong_author_never_counts(tmp_path: Path) -> None:
    from ipfeed.identity import name_from_public
    alice, bob, mallory = Identity.generate(), Identity.generate(), Identity.generate()
    post, content = _alice_post(alice)
    wrong = build_entry(bob, seq=1, prev=None, created=NOW, kind=kinds.REACTION,
                        body=kinds.Reaction(Ref(post.cid, mallory.public), "❤"))
    index = _index(tmp_path)
    root = _root_for(index, "x")
    index.apply(name_from_public(alice.public), root, [post], NOW, None, None, None,
                contents={content.cid: content})
    index.apply(name_from_public(bob.public), root, [wrong], NOW, None, None, None)
    p = index.post(post.cid)
    assert p is not None and p.likes == 0
    assert index.entry(wrong.cid) is not None and index.entry(wrong.cid)[4] == "rejected"  # type: ignore[index]


def test_delete_of_a_delete_and_edits_of_others_posts_are_refused(make_user: Any) -> None:
    alice: User = make_user("alice", start=False)
    bob: User = make_user("bob", start=False)
    s = alice.service
    mine = s.save("my post", card=False).cid
    assert mine is not None
    s.react(mine)
    s.unreact(mine)
    tombstone = _newest_entry(alice)
    with pytest.raises(InvalidInput, match=f"cannot delete {tombstone}: .*rule delete-of-delete"):
        s.delete(tombstone)
    p, _ = s.indexed_post(mine)
    assert p is not None and p.likes == 0 and p.my_reaction is None
    with pytest.raises(InvalidInput, match="not a post known here; follow its author and sync first"):
        bob.service.react(mine)
    s.delete(mine)
    assert s.indexed_post(mine)[0] is None and s.timeline() == []
    with pytest.raises(InvalidInput, match=f"{mine} was deleted by its author: .*rule edit-of-deleted"):
        s.edit(mine, "too late")


def test_reactions_over_the_cap_are_kept_but_not_counted(tmp_path: Path, monkeypatch: Any) -> None:
    from ipfeed import entryindex
    from ipfeed.identity import name_from_public
    monkeypatch.setattr(entryindex, "CAP", 1)
    alice, bob = Identity.generate(), Identity.generate()
    index = _index(tmp_path)
    root = _root_for(index, "x")
    posts = []
    for i in range(2):
        c = build_content(f"post {i}")
        p = build_entry(alice, seq=i + 1, prev=posts[-1].cid if posts else None, created=NOW + i,
                        kind=kinds.POST, content=c.cid)
        index.apply(name_from_public(alice.public), root, [p], NOW, None, None, None, contents={c.cid: c})
        posts.append(p)
    reactions: list[Entry] = []
    for i, p in enumerate(posts):
        reactions.append(_reaction(bob, i + 1, reactions[-1].cid if reactions else None, p, "❤"))
    index.apply(name_from_public(bob.public), root, reactions, NOW, None, None, None)
    likes = [index.post(p.cid).likes for p in posts]  # type: ignore[union-attr]
    assert likes == [1, 0] and index.capped(name_from_public(bob.public)) == 1


def test_an_interaction_with_the_node_down_is_saved_and_published_later(make_user: Any) -> None:
    alice: User = make_user("alice", start=False)
    mine = alice.service.save("written offline", card=False).cid
    assert mine is not None
    r = alice.cli("react", mine, "👍")
    assert r.exit_code == 1 and "saved; will publish when the node is back" in r.output
    p, _ = alice.service.indexed_post(mine)
    assert p is not None and p.my_reaction == "👍"  # signed and shown here at once
    alice.start()
    assert "published" in alice.cli_ok("publish")
    out = json.loads(alice.cli_ok("show", alice.service.identity().name, "--json"))
    assert out["posts"][0]["cid"] == mine and out["posts"][0]["likes"] == 1


def test_timeline_and_show_json_carry_every_v2_field_and_own_reactions_count_once(alice: User) -> None:
    """Reacting to one's own post is allowed and reacting twice counts once (the newest); the
    CLI's --quote, --cw, --sensitive, a pasted name and a #tag reach both JSON outputs, with
    the counts and the edit mark; `timeline --tag` and `search '#tag'` filter by the tag."""
    friend = Identity.generate().name
    base = alice.cli_ok("post", "quoted one", "--no-card").strip()
    mine = alice.cli_ok("post", f"hi {friend} #News", "--no-card", "--quote", base, "--cw", "spoilers",
                        "--sensitive").strip()
    alice.cli_ok("react", mine)
    alice.cli_ok("react", mine, "🎉")  # twice, on one's own post: the newest counts, once
    alice.cli_ok("edit", mine, f"hi again {friend} #News")
    start = len(b"hi again ")
    want = {"quote": base, "mentions": [{"name": friend, "start": start, "end": start + len(friend)}],
            "tags": ["news"], "cw": "spoilers", "sensitive": True, "text": f"hi again {friend} #News"}
    counts = {"likes": 1, "reactions": {"🎉": 1}, "my_reaction": "🎉", "reposts": 0, "quotes": 0,
              "replies": 0, "reposted": False}
    rows = json.loads(alice.cli_ok("timeline", "--json"))["posts"]
    row = next(p for p in rows if p["cid"] == mine)
    assert {k: row[k] for k in [*want, *counts]} == {**want, **counts} and row["edited"]
    assert next(p for p in rows if p["cid"] == base)["quotes"] == 1
    shown = json.loads(alice.cli_ok("show", alice.service.identity().name, "--json"))["posts"]
    item = next(p for p in shown if p["cid"] == mine)
    assert {k: item[k] for k in [*want, *counts]} == {**want, **counts} and item["edited"]
    tagged = json.loads(alice.cli_ok("timeline", "--tag", "#NEWS", "--json"))["posts"]
    assert [p["cid"] for p in tagged] == [mine]
    assert json.loads(alice.cli_ok("timeline", "--tag", "other", "--json"))["posts"] == []
    assert [p.cid for p in alice.service.search("#news")] == [mine]


def test_a_feed_with_an_entry_of_an_unknown_kind_syncs_and_the_entry_is_skipped(alice: User,
                                                                               bob: User) -> None:
    """The growth rule across real nodes: a kind this ipfeed does not know (a future writer's
    `x-poll`) is verified as an envelope, its body skipped; the feed around it syncs whole."""
    from ipfeed import feed
    from ipfeed.homedir import latest_root

    bob.connect(alice)
    before = alice.cli_ok("post", "before the poll", "--no-card").strip()
    me = alice.service.identity()
    box = Outbox(alice.settings.outbox_path)
    try:
        root = latest_root(box)
        assert root is not None and root.head == before
        block = sign_object({"type": "ipfeed.entry", "v": 2, "author": me.public, "seq": root.count + 1,
                             "prev": codec.link(before), "created": NOW, "kind": "x-poll",
                             "body": {"q": "tea?", "choices": ["yes", "no"]}}, me)
        poll = codec.cid_of(block)  # not parsed here: what reads it is under test
        nxt = feed.advance(me, root, updated=NOW, heads=[poll])  # a future writer's root
        box.add_history([(root.count + 1, poll, block)])
        box.add_root(nxt.seq, nxt.cid, nxt.block)
    finally:
        box.close()
    alice.cli_ok("publish")
    after = alice.cli_ok("post", "after the poll", "--no-card").strip()
    name = me.name
    run(bob.service.follow(name))
    [result] = run(bob.service.sync([name], force=True))
    assert result.error is None, result
    assert [p.cid for p in bob.service.feed_posts(name)] == [after, before]
    state = bob.service.feed_state(name)
    assert state is not None and state.count == 3 and not state.fork
    shown = json.loads(bob.cli_ok("show", name, "--json"))
    assert [p["text"] for p in shown["posts"]] == ["after the poll", "before the poll"]
def test_indexing_a_batch_of_plain_posts_takes_three_statements_a_post(tmp_path: Path) -> None:
    """A first sync indexes thousands of entries in one transaction: a plain post is its entry,
    its post row and its version (the existing and the waiting entries are looked up once per
    batch); and what waits for a post of the batch is still applied, from before or within."""
    from ipfeed.identity import name_from_public
    from ipfeed.post import skip_target
    alice, bob = Identity.generate(), Identity.generate()
    chain: list[Entry] = []
    got = {}
    for seq in range(1, 41):
        c = build_content(f"post {seq}")
        got[c.cid] = c
        skip = chain[skip_target(seq) - 1].cid if skip_target(seq) else None
        chain.append(build_entry(alice, seq=seq, prev=chain[-1].cid if chain else None, created=NOW + seq,
                                 kind=kinds.POST, content=c.cid, skip=skip))
    index = _index(tmp_path)
    root = _root_for(index, "x")
    early = _reaction(bob, 1, None, chain[9], "👍")  # arrives before its subject: pending
    index.apply(name_from_public(bob.public), root, [early], NOW, None, None, None)
    statements: list[str] = []
    index.db.set_trace_callback(statements.append)
    index.apply(name_from_public(alice.public), root, chain, NOW, None, None, None, contents=got)
    index.db.set_trace_callback(None)
    # Distinct statements (each names its row's CID): SQLite traces a statement again for the
    # FTS trigger it fires, and the trigger's own steps start with "--".
    ours = sorted({s for s in statements if not s.startswith("--")})
    rows = [s for s in ours if s.startswith(("INSERT INTO entries ", "INSERT OR IGNORE INTO posts (",
                                             "INSERT OR IGNORE INTO versions "))]
    assert len(rows) == 3 * len(chain)
    assert len(ours) <= 3 * len(chain) + 20, "\n".join(s[:100] for s in ours if s not in rows)
    p = index.post(chain[9].cid)
    assert p is not None and (p.likes, p.reactions) == (1, {"👍": 1})
    assert index.entry(early.cid) == (name_from_public(bob.public), 1, kinds.REACTION, chain[9].cid, "live")
    assert len(index.timeline([name_from_public(alice.public)], 100)) == len(chain)
