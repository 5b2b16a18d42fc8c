"""Recovery and migration with the network (docs/FORMAT.md section 18): commit to a recovery
key, recover a feed with it on a fresh home, and, on followers' homes, find a followed feed's
migration, verify it against the feed's earliest commitment and follow the new name.

The rules themselves are pure, in `ipfeed.recovery`; this module only gathers what they decide
on (the index's identity entries, the beacon's IPNS record) and acts on the verdict.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from . import drafts, entry, following, identity, keys, kinds, publishing, reading, sync
from .entryindex import identity_json
from .errors import InvalidEntry, InvalidInput, IpfeedError, MissingIdentity, NotFound
from .feed import Follow
from .homedir import Home, latest_root, now_ms
from .identity import Identity, name_from_public, public_from_name
from .interact import save_identity_entry
from .ipfs import Kubo
from .ipns import parse_record
from .publishing import PublishResult
from .recovery import Claim, Commitment, RecoveryKey, Verdict, decide

BEACON_TIMEOUT = 10.0  # seconds to resolve one beacon name (bounded; a missing one is the common case)
BEACON_EVERY = 3600_000  # ms between a feed's beacon lookups in unforced syncs (a home server's rounds)
_LOOKUPS: dict[tuple[str, str], asyncio.Task[None]] = {}  # (home, feed): a round's background lookup
_BEACON_PROBLEMS: dict[tuple[str, str], str | None] = {}  # (home, feed): why its last lookup failed


@dataclass(frozen=True)
class Moved:
    """A followed feed this home now follows under its new name."""

    old: str
    new: str
    seq: int
    competing: bool
    before: str | None = None  # where an earlier verdict had moved it (a competing migration won since)


def commitments(home: Home, name: str) -> list[Commitment]:
    """The `recovery` entries of a feed, from the index."""
    with home.index() as index:
        rows = index.db.execute("SELECT seq, body FROM identity_entries WHERE name = ? AND kind = ? "
                                "ORDER BY seq", (name, kinds.RECOVERY)).fetchall()
    out = []
    for seq, body in rows:
        b = json.loads(body)
        out.append(Commitment(seq, bytes.fromhex(b["commit"]),
                              bytes.fromhex(b["beacon"]) if b.get("beacon") else None))
    return out


def _chain_claims(home: Home, name: str) -> list[Claim]:
    """Migration entries of the old chain itself (a planned rotation), and the claim that won before."""
    source = public_from_name(name)
    with home.index() as index:
        rows = index.db.execute("SELECT cid, seq, body FROM identity_entries WHERE name = ? AND kind = ?",
                                (name, kinds.MIGRATION)).fetchall()
        won = index.db.execute("SELECT statement FROM moves WHERE name = ?", (name,)).fetchone()
    out = [Claim(source, bytes.fromhex(b["to"]), seq, bytes.fromhex(b["recovery"]), bytes.fromhex(b["rsig"]),
                 entry=cid) for cid, seq, b in ((c, s, json.loads(x)) for c, s, x in rows)]
    if won:
        w = json.loads(won[0])
        out.append(Claim(source, bytes.fromhex(w["to"]), w["seq"], bytes.fromhex(w["recovery"]),
                         bytes.fromhex(w["rsig"]), w.get("entry", ""), w.get("genesis", "")))
    return out


def _kept_claims(home: Home) -> dict[bytes, list[Claim]]:
    """The statements this home keeps besides the old chains' own, by the feed they move: those
    relayed by feeds it verified (`migration-seen` entries) and the `moved-from` geneses it
    verified (a new feed it synced, or one a beacon lookup found). One read per round."""
    with home.index() as index:
        rows = index.db.execute("SELECT cid, name, kind, body FROM identity_entries WHERE kind IN (?, ?)",
                                (kinds.MIGRATION_SEEN, kinds.MOVED_FROM)).fetchall()
    h = bytes.fromhex
    out: dict[bytes, list[Claim]] = {}
    for cid, author, kind, body in rows:
        b = json.loads(body)
        to, genesis = (public_from_name(author), cid) if kind == kinds.MOVED_FROM else (h(b["to"]), "")
        c = Claim(h(b["from"]), to, b["seq"], h(b["recovery"]), h(b["rsig"]), genesis=genesis)
        out.setdefault(c.source, []).append(c)
    return out


def _relay(home: Home, me: Identity, c: Claim) -> None:
    """Write a winning statement into this feed's chain (a `migration-seen` entry, published
    with the follow-list change), unless this feed relays it already."""
    with home.index() as index:
        rows = index.db.execute("SELECT body FROM identity_entries WHERE name = ? AND kind = ?",
                                (me.name, kinds.MIGRATION_SEEN)).fetchall()
    relayed = {(b["from"], b["to"], b["seq"]) for b in (json.loads(r[0]) for r in rows)}
    if (c.source.hex(), c.to.hex(), c.seq) in relayed:
        return
    save_identity_entry(home, me, kinds.MIGRATION_SEEN, {"from": c.source, "to": c.to, "seq": c.seq,
                                                         "recovery": c.recovery, "rsig": c.rsig})


def claim_of_genesis(block: bytes, cid: str, source: bytes) -> Claim:
    """The claim a new feed's genesis carries; InvalidEntry unless it is a valid moved-from entry
    (seq 1, signed by its author, rsig by the recovery key) moving feed `source`."""
    e = entry.parse_entry(block, cid)
    if e.kind != kinds.MOVED_FROM or not isinstance(e.body, kinds.MovedFrom):
        raise InvalidEntry(f"entry {cid}: a beacon must point at a moved-from entry, not a {e.kind}")
    if e.body.source != source:
        raise InvalidEntry(f"entry {cid}: it moves {name_from_public(e.body.source)}, not "
                           f"{name_from_public(source)} (rule migration-from)")
    return Claim(source, e.author, e.body.seq, e.body.recovery, e.body.rsig, genesis=cid)


async def _beacon_claim(kubo: Kubo, name: str, beacon: bytes) -> Claim | None:
    """The claim announced under a feed's beacon name, if any (every step verified)."""
    beacon_name = name_from_public(beacon)
    try:
        raw = await kubo.name_get(beacon_name, BEACON_TIMEOUT, settle=0.5)
    except NotFound:
        return None
    record = parse_record(raw, beacon_name)
    value = record.value
    if not value.startswith("/ipfs/"):
        raise InvalidEntry(f"the beacon {beacon_name} of {name} points at {value[:80]!r}, not /ipfs/CID")
    cid = value.removeprefix("/ipfs/")
    block = await kubo.block_get(cid, entry.MAX_ENTRY_BYTES, BEACON_TIMEOUT)
    return claim_of_genesis(block, cid, public_from_name(name))


async def _look_up_beacon(home: Home, kubo: Kubo, name: str, beacon: bytes) -> Claim | None:
    """Look a feed's beacon up and keep what it says: a verified genesis in the index (as an
    identity entry of the new feed), a bad record or entry as the feed's beacon problem."""
    why = None
    try:
        c = await _beacon_claim(kubo, name, beacon)
    except (InvalidEntry, IpfeedError, ValueError) as e:
        c, why = None, str(e)
    _BEACON_PROBLEMS[(str(home.settings.home), name)] = why
    if c is not None:
        body = identity_json(kinds.MovedFrom(c.source, c.recovery, c.seq, c.rsig))
        with home.index() as index:
            index.db.execute("INSERT OR IGNORE INTO identity_entries VALUES (?, ?, 1, ?, ?)",
                             (c.genesis, c.to_name, kinds.MOVED_FROM, json.dumps(body)))
            index.db.commit()
    return c


def _in_background(home: Home, name: str, beacon: bytes) -> bool:
    """Start a beacon lookup that a home server round does not wait for (its finding is decided
    on in the next round); False when this home has as many running as it syncs at once."""
    key = (str(home.settings.home), name)
    running = [k for k, t in _LOOKUPS.items() if k[0] == key[0] and not t.done()]
    if key in running:
        return True
    if len(running) >= home.settings.sync_concurrency:
        return False

    async def look() -> None:
        try:
            async with home.kubo() as kubo:
                await _look_up_beacon(home, kubo, name, beacon)
        except (IpfeedError, OSError) as e:  # the node went away: the next due round tries again
            _BEACON_PROBLEMS[key] = f"the beacon lookup failed: {e}"

    task = asyncio.get_running_loop().create_task(look())
    _LOOKUPS[key] = task
    task.add_done_callback(lambda t: _LOOKUPS.pop(key) if _LOOKUPS.get(key) is t else None)
    return True


async def lookups_done(home: Home, timeout: float = 2 * BEACON_TIMEOUT + 5) -> None:
    """Wait (bounded) for this home's background beacon lookups to end."""
    tasks = [t for k, t in _LOOKUPS.items() if k[0] == str(home.settings.home)]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


def _beacon_due(home: Home, name: str, force: bool) -> bool:
    """Whether the feed's beacon is to be looked up now (always when forced)."""
    with home.index() as index:
        row = index.db.execute("SELECT at FROM beacon_checks WHERE name = ?", (name,)).fetchone()
    return force or not row or now_ms() - row[0] >= BEACON_EVERY


def _beacon_looked_up(home: Home, name: str) -> None:
    """Note that the feed's beacon is being looked up now (the next unforced one: in BEACON_EVERY)."""
    now = now_ms()
    with home.index() as index:
        index.db.execute("INSERT OR REPLACE INTO beacon_checks VALUES (?, ?)", (name, now))
        index.db.commit()


async def verdict(home: Home, kubo: Kubo, name: str, kept: dict[bytes, list[Claim]], *,
                  force: bool = True) -> Verdict:
    """What section 18 decides for a feed now: its commitments, the old chain's migrations and
    the statements this home keeps (`kept`: relayed, or found through a beacon). Forced,
    the feed's beacon is looked up first (bounded); unforced (a home server's round), at most
    every BEACON_EVERY and in the background: the next round decides on what it found."""
    return await _verdict(home, kubo, name, _known(home, name, kept, force))


@dataclass(frozen=True)
class _Known:
    """What the index says of a feed's migrations, and the beacon to look up now, if any."""

    found: list[Commitment]
    claims: list[Claim]
    beacon: bytes | None


def _known(home: Home, name: str, kept: dict[bytes, list[Claim]], force: bool) -> _Known:
    """The index's part of a verdict (no await: a round reads every feed in one `held` scope);
    an unforced due lookup is started in the background here."""
    found = commitments(home, name)
    first = min(found, key=lambda c: c.seq, default=None)
    claims = [*_chain_claims(home, name), *kept.get(public_from_name(name), [])]
    beacon = None
    if first is not None and first.beacon is not None and _beacon_due(home, name, force):
        if force:
            _beacon_looked_up(home, name)
            beacon = first.beacon
        elif _in_background(home, name, first.beacon):
            _beacon_looked_up(home, name)
    return _Known(found, claims, beacon)


async def _verdict(home: Home, kubo: Kubo, name: str, known: _Known) -> Verdict:
    source = public_from_name(name)
    claims = list(known.claims)
    if known.beacon is not None and (c := await _look_up_beacon(home, kubo, name, known.beacon)):
        claims.append(c)
    v = decide(source, known.found, claims)
    why = _BEACON_PROBLEMS.get((str(home.settings.home), name))
    problem = ((Claim(source, b"", 0, b"", b""), why),) if why else ()
    return Verdict(v.commitment, v.winner, (*v.rejected, *problem), v.competing)


def moved_to(home: Home, name: str) -> tuple[str, int] | None:
    """The name a feed moved to and the seq from which its old key's entries are not the owner's."""
    with home.index() as index:
        row = index.db.execute("SELECT moved_to, seq FROM moves WHERE name = ?", (name,)).fetchone()
    return (row[0], row[1]) if row else None


def competing(home: Home, name: str) -> bool:
    """Whether more than one migration of a feed counts (section 18, rule 4)."""
    with home.index() as index:
        row = index.db.execute("SELECT competing FROM moves WHERE name = ?", (name,)).fetchone()
    return bool(row and row[0])


def _record(home: Home, name: str, v: Verdict) -> bool:
    """Store a verdict's winner; True if it is new or changed (a replay changes nothing)."""
    w = v.winner
    assert w is not None
    statement = json.dumps({"to": w.to.hex(), "seq": w.seq, "recovery": w.recovery.hex(),
                            "rsig": w.rsig.hex(), "entry": w.entry, "genesis": w.genesis})
    with home.index() as index:
        old = index.db.execute("SELECT moved_to, seq, competing FROM moves WHERE name = ?",
                               (name,)).fetchone()
        if old == (w.to_name, w.seq, int(v.competing)):
            return False
        index.db.execute("INSERT OR REPLACE INTO moves VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (name, w.to_name, w.seq, w.entry or None, w.genesis or None, statement,
                          int(v.competing), now_ms()))
        index.db.commit()
    return True


async def follow_moves(home: Home, names: list[str] | None = None, *, force: bool = True) -> list[Moved]:
    """For each followed feed (or `names`), apply its migration if one counts: record it, and
    follow the new name instead of the old one (one follow-list change, published). Unforced
    (a home server's rounds), each feed's beacon is looked up at most every BEACON_EVERY."""
    me = home.identity()
    follows = {f.name: f for f in reading.follows(home)}
    targets = names if names is not None else [*sorted(follows), *reading.moved_from(home, sorted(follows))]
    moved: list[Moved] = []
    sem = asyncio.Semaphore(home.settings.sync_concurrency)
    kept = _kept_claims(home)
    # The index is opened once for each stretch of per-feed reads and writes, not a few times per
    # feed; nothing is awaited inside `held` (another task of this loop would share its index).
    with home.held():
        known = {n: _known(home, n, kept, force) for n in targets}

    async def one(kubo: Kubo, name: str) -> Verdict:
        async with sem:
            return await _verdict(home, kubo, name, known[name])

    async with home.kubo() as kubo:  # beacon lookups at once, a few at a time
        verdicts = await asyncio.gather(*(one(kubo, n) for n in targets))
    with home.held():
        for name, v in zip(targets, verdicts, strict=True):
            _note_problems(home, name, v)
            before = moved_to(home, name)
            if v.winner is not None and v.winner.to_name != me.name and _record(home, name, v):
                moved.append(Moved(name, v.winner.to_name, v.winner.seq, v.competing, before and before[0]))
    # Follow the winner instead of the old name, or instead of the loser of a competing migration.
    switch = [m for m in moved if m.old in follows or (m.before in follows and m.before != m.new)]
    won = {name: v.winner for name, v in zip(targets, verdicts, strict=True)}
    for m in switch:  # tell this feed's own readers (section 18, discovery through followers)
        if (w := won[m.old]) is not None:
            _relay(home, me, w)
    if switch:
        def change(current: dict[str, Follow]) -> None:
            for m in switch:
                was = current.pop(m.old, None) or (current.pop(m.before, None) if m.before else None)
                if m.new not in current:
                    current[m.new] = Follow(m.new, was.alias if was else "")
        with home.index() as index:
            for m in switch:
                index.ensure_feed(m.new)
        await following.set_follows(home, me, change)
    return moved


def _note_problems(home: Home, name: str, v: Verdict) -> None:
    """Keep why the migrations seen for a feed were refused (shown by `show` and the feed page)."""
    problems = sorted({why for _, why in v.rejected})
    with home.index() as index:
        if problems:
            index.db.execute("INSERT OR REPLACE INTO migration_problems VALUES (?, ?, ?)",
                             (name, "; ".join(problems)[:2000], now_ms()))
        elif index.db.execute("SELECT 1 FROM migration_problems WHERE name = ?", (name,)).fetchone():
            index.db.execute("DELETE FROM migration_problems WHERE name = ?", (name,))  # no write if none
        index.db.commit()


def problems(home: Home, name: str) -> str | None:
    """Why a migration of this feed was refused, if one was."""
    with home.index() as index:
        row = index.db.execute("SELECT problem FROM migration_problems WHERE name = ?", (name,)).fetchone()
    return str(row[0]) if row else None


def _own_commitment(home: Home, me: Identity) -> Commitment | None:
    return min(commitments(home, me.name), key=lambda c: c.seq, default=None)


def commit(home: Home, rk: RecoveryKey) -> int:
    """Sign this feed's `recovery` entry (no node needed: `publish` sends it); refused when the
    feed has one already (readers trust the earliest, so a second would change nothing)."""
    me = home.identity()
    if (c := _own_commitment(home, me)) is not None:
        raise InvalidInput(f"this feed committed to a recovery key already (entry seq {c.seq}); "
                           "readers trust the earliest commitment, so a second one has no effect")
    return save_identity_entry(home, me, kinds.RECOVERY, kinds.body_obj(rk.body()) or {})


async def setup(home: Home, rk: RecoveryKey) -> PublishResult:
    """Commit an existing feed to a recovery key and publish it."""
    commit(home, rk)
    return await publishing.publish(home)


async def recover(home: Home, rk: RecoveryKey, old: str, *, since: int | None = None,
                  new_key: Identity | None = None) -> tuple[Identity, int, PublishResult]:
    """On a fresh home: make a new feed whose genesis is the recovery key's migration of `old`
    (entries of `old` from seq `since` on are disowned; default: after its newest verified
    one), publish it and point the beacon at it. Refused unless the secret matches `old`'s
    earliest commitment."""
    old = identity.normalize_name(old)
    source = public_from_name(old)
    try:
        me = home.identity()
    except MissingIdentity:
        pass
    else:
        if (g := _genesis(home)) is None or g.source != source:
            raise InvalidInput(f"{home.settings.home} has a feed key already; recover on a fresh home")
        # A recovery begun here that could not publish (the node was down): finish it.
        result = await publishing.publish(home)
        await announce(home, rk)
        return me, g.seq, result
    with home.index() as index:
        async with home.kubo() as kubo:
            await sync.sync_feed(kubo, index, old, home.settings, now_ms(), pin=True)
        state = index.feed(old)
    first = min(commitments(home, old), key=lambda c: c.seq, default=None)
    if first is None:
        raise InvalidInput(f"{old} never committed to a recovery key: it cannot be recovered")
    if first.commit != rk.commit:
        raise InvalidInput(f"this recovery secret does not match the commitment of {old} "
                           f"(entry seq {first.seq})")
    count = state.count if state else 0
    seq = since if since is not None else count + 1
    if not first.seq < seq <= count + 1:
        raise InvalidInput(f"--since must be after the commitment (seq {first.seq}) and at most {count + 1}")
    me = new_key or Identity.generate()
    identity.save(me, home.settings.key_path)
    keys.init(home, str((state.profile if state else {}).get("name", "")), fresh=True)
    rsig = rk.statement(source, me.public, seq)
    body = {"from": source.hex(), "recovery": rk.key.public.hex(), "seq": seq, "rsig": rsig.hex()}
    save_identity_entry(home, me, kinds.MOVED_FROM, body, at_seq=1)
    result = await publishing.publish(home)
    await announce(home, rk)
    if follows := [Follow(f["name"], f.get("alias", "")) for f in (state.follows if state else [])
                   if f.get("name") not in (me.name, old)]:
        def change(current: dict[str, Follow]) -> None:  # the old feed's follows, carried over
            current.update({f.name: f for f in follows})
        result = await following.set_follows(home, me, change)
    return me, seq, result


def _genesis(home: Home) -> kinds.MovedFrom | None:
    """The moved-from body of this home's first entry, if it is one."""
    with home.outbox() as box:
        first = next(iter(box.post_blocks(0)), None)
    e = entry.parse_chained(first[1]) if first else None
    return e.body if isinstance(e, entry.Entry) and isinstance(e.body, kinds.MovedFrom) else None


async def announce(home: Home, rk: RecoveryKey) -> str:
    """Point the recovery key's beacon name at this feed's genesis (Kubo keeps republishing it)."""
    with home.outbox() as box:
        genesis = box.post_cid(1)
    if genesis is None:
        raise InvalidInput("this feed has no genesis entry to announce")
    async with home.kubo() as kubo:
        key = await keys.ensure_node_key(kubo, rk.beacon)
        s = home.settings
        return await kubo.name_publish(key, genesis, lifetime=s.ipns_lifetime, ttl=s.ipns_ttl)


async def rotate(home: Home, rk: RecoveryKey) -> tuple[Identity, int]:
    """A planned rotation (the old key at hand): the old chain gets a `migration` entry signed
    by both keys; the old key and outbox are retired (kept under `retired/`), and this home starts
    the new feed exactly as `recover` does."""
    me = home.identity()
    c = _own_commitment(home, me)
    if c is None or c.commit != rk.commit:
        raise InvalidInput("this recovery secret does not match this feed's commitment")
    if drafts.pending(home):
        raise InvalidInput("publish or drop the pending drafts first (`ipfeed publish`)")
    new = Identity.generate()
    with home.outbox() as box:
        root = latest_root(box)
    seq = (root.count if root else 0) + 1
    body = {"to": new.public.hex(), "recovery": rk.key.public.hex(),
            "rsig": rk.statement(me.public, new.public, seq).hex()}
    save_identity_entry(home, me, kinds.MIGRATION, body, at_seq=seq)
    await publishing.publish(home)
    if drafts.pending(home):
        raise InvalidInput("the migration entry is not published yet; run `ipfeed key rotate` again later")
    _retire(home, me)
    await recover(home, rk, me.name, since=seq, new_key=new)
    return new, seq


def _retire(home: Home, me: Identity) -> None:
    """Move the old key and outbox aside (never deleted: the old chain's blocks stay there)."""
    s = home.settings
    folder = s.home / "retired" / me.name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in [s.key_path, *s.outbox_path.parent.glob(s.outbox_path.name + "*")]:
        path.rename(folder / path.name)
    home.forget_identity()
