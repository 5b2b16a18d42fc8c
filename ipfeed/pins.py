"""Keeping a growing feed pinned in work proportional to what is new.

Kubo's `pin update` diffs the old and new DAGs link by link without remembering what it saw;
on a feed (every post links `prev` and often `skip`, the root's `recent` shifts by one) that
walk explodes, and a plain recursive pin of each new root walks the whole history each time.
So: the first root a node keeps is pinned recursively (its whole DAG, once); after that each
new post, follow list and root is pinned directly (one block each), each new attachment
recursively (its own small DAG), and the previous root's direct pin is dropped. Every block
of the feed stays covered, and garbage collection can remove none of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .feed import Root
from .ipfs import Kubo
from .post import Post


async def advance(kubo: Kubo, previous: str | None, root: Root, new_posts: Sequence[Post] | None,
                  timeout: float) -> None:
    """Pin `root` (its DAG) given the root pinned before and the posts added since; without a
    previous root, or not knowing the new posts, pin the whole DAG recursively."""
    if previous == root.cid:
        return
    based = previous is not None and (await kubo.pinned(previous) or await kubo.pinned(previous, "direct"))
    if not based or new_posts is None:
        await kubo.pin_add(root.cid, timeout)
        if previous is not None and await kubo.pinned(previous, "direct"):
            await kubo.pin_rm(previous)
        return
    files = [f for p in new_posts for f in (*(a.cid for a in p.attachments), *p.files)]
    if root.profile.avatar:
        files.append(root.profile.avatar)
    await kubo.pin_add([p.cid for p in new_posts] + ([root.follows] if root.follows else []), timeout,
                       recursive=False)
    await kubo.pin_add(files, timeout)
    await kubo.pin_add(root.cid, timeout, recursive=False)  # last: the root pinned = all of it pinned
    assert previous is not None
    if await kubo.pinned(previous, "direct"):
        await kubo.pin_rm(previous)  # the first, recursive root stays: it holds the history
