"""Finding people by what they call themselves: display names from verified profiles of the
feeds this index holds, and the aliases the user gave the feeds they follow."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from .feed import Follow
from .homedir import Home
from .index import FeedState


def find(home: Home, query: str, follows: Sequence[Follow] = (), limit: int = 20,
         hide: Collection[str] = ()) -> list[FeedState]:
    """Feeds whose display name or alias contains every word of `query` (case-folded), those
    the user follows first; none of the feeds in `hide` (blocked)."""
    words = [w.casefold() for w in query.split()][:20]
    if not words:
        return []
    aliases = {f.name: f.alias for f in follows}
    with home.index() as index:
        found = [st for st in index.feeds() if st.root_cid is not None and st.name not in hide and all(
            w in f"{st.profile.get('name') or ''} {aliases.get(st.name, '')}".casefold() for w in words)]
    found.sort(key=lambda st: (st.name not in aliases, str(st.profile.get("name") or "").casefold()))
    return found[:limit]
