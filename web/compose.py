"""The composer's form between tries: what was typed, whom it is for, and the uploaded files,
kept server-side in a staging folder of this session (a browser cannot refill a file input),
so an error never silently drops a recipient or an image."""

from __future__ import annotations

import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import request, session
from werkzeug.datastructures import FileStorage

from ipfeed import identity, media, post
from ipfeed.errors import InvalidInput

from . import names

STAGING = "web-staging"
MAX_AGE = 24 * 3600  # staged uploads of a form nobody came back to are removed after a day
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}\Z")
_ID = re.compile(r"[0-9]{1,3}\Z")


@dataclass
class Form:
    """One composer form as submitted (or to show again)."""

    text: str = ""
    reply_to: str = ""
    to: str = ""  # recipients as typed: names, aliases or display names, comma-separated
    picked: list[str] = field(default_factory=list)  # followed feeds ticked in the list
    token: str = ""  # the staging folder of this form's kept uploads
    folder: Path | None = None
    kept: list[tuple[str, str]] = field(default_factory=list)  # (id, file name)
    meant_private: str = ""  # recipients of an earlier try: the draft must not go out in the clear
    public_ok: bool = False  # the user ticked "post publicly"
    public_check: bool = False  # show that box
    quote: str = ""  # CID of the post quoted
    cw: str = ""  # content warning
    sensitive: bool = False  # the images are sensitive media
    alts: list[str] = field(default_factory=list)  # alt text of each image, in order
    no_card: bool = False  # no link card for the first link

    def alt_texts(self) -> tuple[str, ...]:
        """One alt text per kept image, in order ("" where none was given)."""
        return tuple((self.alts + [""] * len(self.kept))[: len(self.kept)])

    def v2_fields(self) -> dict[str, Any]:
        """`Service.save`'s keywords of format v2, only those the user set (a plain post
        passes none)."""
        given = {"quote": self.quote or None, "cw": self.cw, "sensitive": self.sensitive,
                 "alts": self.alt_texts() if any(self.alts) else (), "card": not self.no_card}
        plain = {"quote": None, "cw": "", "sensitive": False, "alts": (), "card": True}
        return {k: v for k, v in given.items() if v != plain[k]}

    def recipients(self) -> list[str]:
        """Every recipient given, typed or ticked."""
        return [*split_recipients(self.to), *self.picked]

    def paths(self) -> list[Path]:
        """The kept uploads, in the order they came."""
        assert self.folder is not None or not self.kept
        return [next((self.folder / i).iterdir()) for i, _ in self.kept] if self.folder else []

    def discard(self) -> None:
        """Forget the staged uploads (the post is saved: the outbox has its own copies)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        session["staged"] = [t for t in session.get("staged", []) if t != self.token]


def split_recipients(text: str) -> list[str]:
    """Recipients as typed: separated by commas (a display name may have spaces), or by
    spaces when every word is an IPNS name (or a pasted feed link)."""
    out: list[str] = []
    for part in re.split(r"[,;\n]", text):
        words = [_pasted(w) for w in part.split()]
        if len(words) > 1 and all(_is_name(w) for w in words):
            out += words
        elif part.strip():
            out.append(_pasted(part.strip()))
    return out


def _pasted(word: str) -> str:
    """A feed link pasted as a recipient (…/feed/k51…, ipns://k51…) as its name."""
    if "/" not in word:
        return word
    try:
        return names.parse(word)
    except InvalidInput:
        return word


def _is_name(word: str) -> bool:
    try:
        identity.normalize_name(word)
    except InvalidInput:
        return False
    return True


def safe_name(name: str) -> str:
    """An uploaded file's name as a plain file name (no path, no control characters)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if ord(c) >= 32).strip() or "file"
    if name in (".", ".."):
        name = "file"
    return name.encode()[: post.MAX_NAME_BYTES].decode("utf-8", "ignore") or "file"


def _folder(home: Path, token: str) -> Path | None:
    """This session's staging folder for `token` (another session's token finds nothing)."""
    if not _TOKEN.match(token) or token not in session.get("staged", []):
        return None
    return home / STAGING / token


def _sweep(root: Path) -> None:
    if not root.is_dir():
        return
    cutoff = time.time() - MAX_AGE
    for old in root.iterdir():
        if old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)


def read(home: Path) -> tuple[Form, list[str]]:
    """The submitted form, its new uploads staged with the kept ones; and what is wrong
    with the uploads (a file that is not an image, too many, too big: kept out, said)."""
    f = request.form
    form = Form(text=f.get("text", "").replace("\r\n", "\n"), reply_to=f.get("reply_to", "").strip(),
                to=f.get("to", "").strip(), picked=[n for n in f.getlist("pick") if _is_name(n)],
                meant_private=f.get("meant_private", "").strip(), public_ok=f.get("public_ok") == "1",
                quote=f.get("quote", "").strip(), cw=f.get("cw", "").strip(),
                sensitive=f.get("sensitive") == "1", no_card=f.get("no_card") == "1",
)
    _sweep(home / STAGING)
    folder = _folder(home, f.get("staged", ""))
    kept: list[tuple[str, str]] = []
    if folder is not None and folder.is_dir():
        dropped = set(f.getlist("drop"))
        for sub in sorted(folder.iterdir(), key=lambda p: int(p.name) if _ID.match(p.name) else -1):
            files = list(sub.iterdir()) if _ID.match(sub.name) and sub.is_dir() else []
            if sub.name in dropped or not files:
                shutil.rmtree(sub, ignore_errors=True)
            else:
                kept.append((sub.name, files[0].name))
                form.alts.append(f.get(f"alt-{sub.name}", "").strip())
    problems: list[str] = []
    uploads = [u for u in request.files.getlist("attach") if u and u.filename]
    new_alts = [a.strip() for a in f.getlist("alt")]  # one field per picked file, in order
    if uploads and folder is None:
        token = secrets.token_urlsafe(16)
        session["staged"] = [*session.get("staged", [])[-7:], token]
        folder = _folder(home, token)
    for i, u in enumerate(uploads):
        try:
            problem = _stage_upload(u, folder, kept)
        finally:
            u.close()  # a big upload is a spooled temporary file: close it now
        if problem:
            problems.append(problem)
        else:
            form.alts.append(new_alts[i] if i < len(new_alts) else "")
    if folder is not None:
        form.folder, form.token, form.kept = folder, folder.name, kept
    return form, problems


def _stage_upload(u: FileStorage, folder: Path | None, kept: list[tuple[str, str]]) -> str:
    """Keep one new upload in the form's folder (appended to `kept`), or say why not."""
    name = safe_name(u.filename or "file")
    head = u.stream.read(16)
    u.stream.seek(0)
    if media.sniff_image(head) is None:
        return f"{name} is not a {media.IMAGE_NAMES} image: not attached"
    if len(kept) >= post.MAX_ATTACHMENTS:
        return f"at most {post.MAX_ATTACHMENTS} images per post: {name} not attached"
    assert folder is not None
    folder.parent.mkdir(mode=0o700, exist_ok=True)
    number = str(max((int(i) for i, _ in kept), default=-1) + 1)
    (folder / number).mkdir(parents=True, mode=0o700)
    u.save(folder / number / name)
    size = (folder / number / name).stat().st_size
    if size > post.MAX_ATTACHMENT_SIZE:
        shutil.rmtree(folder / number)
        return (f"{name} is {size} bytes, over the limit of {post.MAX_ATTACHMENT_SIZE} bytes "
                f"({post.MAX_ATTACHMENT_SIZE // 2**20} MiB): not attached")
    kept.append((number, name))
    return ""
