"""The home's identity: create it, export and restore its key, put it in the node's keystore."""

from __future__ import annotations

import os
from pathlib import Path

from . import backup, feed, identity
from .errors import InvalidInput, MissingIdentity, NodeError
from .feed import Profile
from .homedir import Home, now_ms
from .identity import Identity
from .ipfs import Kubo
from .outbox import feed_lock


def init(home: Home, display_name: str = "", *, fresh: bool = False) -> tuple[Identity, bool]:
    """Create the identity and the first root; a no-op if the home has a key already.

    A key put into a home by hand (restored) gets no new root here: the existing feed is
    fetched from the network before the first post, so it is continued, never forked.
    `fresh=True` starts a new feed for such a key (only right if it never published)."""
    try:
        me = home.identity()
    except MissingIdentity:
        if home.settings.key_path.exists():
            raise
        me = Identity.generate()
        identity.save(me, home.settings.key_path)
        fresh = True
    else:
        if not fresh:
            return me, False
    with home.outbox() as box, feed_lock(home.settings.home, home.settings.lock_timeout):
        if box.latest_root() is not None:
            return me, False
        root = feed.advance(me, None, updated=now_ms(), profile=Profile(name=display_name))
        box.add_root(root.seq, root.cid, root.block)
    return me, True


def key_export(home: Home, path: Path, passphrase: str, strength: str = "moderate") -> str:
    """Write the identity key encrypted with a passphrase; return the name."""
    me = home.identity()
    data = backup.export_key(me, passphrase, strength)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return me.name


def restore_key(home: Home, path: Path, passphrase: str) -> str:
    """Restore the identity from a backup into this home (which must have none yet). The
    feed itself is fetched from the network, or an imported archive, before a new post."""
    if home.settings.key_path.exists():
        raise InvalidInput(f"{home.settings.key_path} exists: this home already has an identity")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}") from e
    me = backup.import_key(data, passphrase)
    identity.save(me, home.settings.key_path)
    return me.name


async def ensure_in_node(home: Home) -> str:
    """Make sure the node's keystore holds the identity; return the key's name there."""
    async with home.kubo() as kubo:
        return await ensure_node_key(kubo, home.identity())


async def ensure_node_key(kubo: Kubo, me: Identity) -> str:
    """Put the identity into the node's keystore unless it is there; return its key name there."""
    for key_name, key_id in (await kubo.key_names()).items():
        if key_id == me.name:
            return key_name
    key_name = f"ipfeed-{me.name}"
    imported = await kubo.key_import(key_name, me.libp2p_private_key())
    if imported != me.name:
        raise NodeError(f"the node imported the key as {imported}, expected {me.name}")
    return key_name
