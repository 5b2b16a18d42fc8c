"""Push: after publishing, a node announces its new signed IPNS record on a pubsub topic;
home servers that follow the name sync it at once instead of at their next round.

A message is only a hint. It is DAG-CBOR `{"name": k51…, "record": bytes}`, at most 12 KiB;
the record must verify for the name (so nobody can announce for someone else), and the sync
it triggers verifies everything again. All ipfeed nodes share one topic, so a home server
hears every announcement of its pubsub mesh and acts only on the names it follows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from . import codec
from .errors import InvalidInput, InvalidObject, IpfeedError
from .identity import normalize_name
from .ipfs import Kubo
from .ipns import parse_record

TOPIC = "/ipfeed/1/announce"
MAX_MESSAGE = 12 * 1024


async def announce(kubo: Kubo, name: str, timeout: float) -> bool:
    """Announce `name`'s current record; best effort (False if the node has no pubsub)."""
    try:
        record = await kubo.name_get(name, timeout)
        await kubo.pubsub_pub(TOPIC, codec.encode({"name": name, "record": record}))
    except IpfeedError:
        return False
    return True


def parse(message: bytes) -> tuple[str, bytes]:
    """The (name, record) of an announcement, verified; raise on anything wrong."""
    obj = codec.decode(message, max_size=MAX_MESSAGE, what="announcement")
    if not isinstance(obj, dict) or set(obj) != {"name", "record"}:
        raise InvalidInput("announcement: not {name, record}")
    name, record = obj["name"], obj["record"]
    if not isinstance(name, str) or not isinstance(record, bytes) or normalize_name(name) != name:
        raise InvalidInput("announcement: malformed name or record")
    parse_record(record, name)
    return name, record


async def listen(kubo: Kubo, wake: Callable[[str, bytes], Awaitable[None]]) -> None:
    """Call `wake(name, record)` for every valid announcement until the stream ends."""
    async for message in kubo.pubsub_sub(TOPIC, MAX_MESSAGE):
        try:
            name, record = parse(message)
        except (InvalidInput, InvalidObject):
            continue  # junk on a public topic is ignored
        await wake(name, record)
