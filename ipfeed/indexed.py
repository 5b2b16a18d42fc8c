"""What the index holds, as its readers see it: a feed's state and a post as the timeline
shows it (ipfeed.index writes and queries them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FUTURE_SLACK_MS = 10 * 60 * 1000  # clocks disagree a little; more is a future-dated post


@dataclass(frozen=True)
class FeedState:
    """What the index knows of one feed."""

    name: str
    root_cid: str | None
    root_seq: int | None
    count: int
    updated: int | None
    profile: dict[str, Any]
    head: str | None
    record: bytes | None
    record_seq: int | None
    record_eol: int | None
    pinned: str | None
    last_sync: int | None
    last_ok: int | None
    last_error: str | None
    failures: int
    next_try: int
    fork: bool
    follows: list[dict[str, str]]

    def health(self, now: int) -> str:
        """The last check in one word: `ok` (it reached the feed and verified it), `failing`
        (it did not: what is shown is the last verified state), `stale` (the newest verified
        record has expired), `never` (no verified state yet)."""
        if self.root_cid is None:
            return "failing" if self.last_error else "never"
        if self.record_eol is not None and self.record_eol <= now:
            return "stale"
        return "failing" if self.last_error else "ok"


@dataclass(frozen=True)
class IndexedPost:
    """A verified post as the timeline shows it."""

    cid: str
    name: str
    seq: int
    prev: str | None
    created: int
    sort: int
    text: str
    reply_to: str | None
    attachments: list[dict[str, Any]]
    private: bool = False
    recipients: list[str] = field(default_factory=list)
    edited: int | None = None  # ms of the newest edit (format v2)
    quote: str | None = None  # CID of the quoted post
    mentions: list[dict[str, Any]] = field(default_factory=list)  # {"name", "start", "end"}
    tags: list[str] = field(default_factory=list)
    card: dict[str, Any] | None = None  # {"url", "title", "description", "thumb": attachment | None}
    cw: str = ""
    sensitive: bool = False
    reactions: dict[str, int] = field(default_factory=dict)  # emoji -> authors
    likes: int = 0  # every reaction, whatever its emoji
    reposts: int = 0
    quotes: int = 0
    replies: int = 0
    my_reaction: str | None = None  # this home's user's reaction
    reposted: bool = False  # by this home's user
    reposted_by: str | None = None  # a timeline item that is a followed feed's repost
    not_owner: str | None = None  # signed by the old key after its feed moved to this name (section 18)

    @property
    def future(self) -> bool:
        """Dated more than 10 minutes after this node first saw it: shown at the time it was
        seen, and marked, never on top of the timeline for as long as its author likes."""
        return self.created > self.sort + FUTURE_SLACK_MS

    @property
    def cursor(self) -> str:
        """Where a page that ends with this post continues (`--before`)."""
        return f"{self.sort}-{self.seq}-{self.cid}"

    def to_json(self) -> dict[str, Any]:
        """The post for JSON output."""
        return {"cid": self.cid, "name": self.name, "seq": self.seq, "created": self.created,
                "text": self.text, "reply_to": self.reply_to,
                "attachments": [{k: v for k, v in a.items() if k not in ("key", "nonce")}
                                for a in self.attachments],
                "future_dated": self.future, "private": self.private, "recipients": self.recipients,
                "edited": self.edited, "quote": self.quote, "mentions": self.mentions, "tags": self.tags,
                "card": self.card, "cw": self.cw, "sensitive": self.sensitive,
                "reactions": self.reactions, "likes": self.likes, "reposts": self.reposts,
                "quotes": self.quotes, "replies": self.replies, "my_reaction": self.my_reaction,
                "reposted": self.reposted, "reposted_by": self.reposted_by, "not_owner": self.not_owner}
