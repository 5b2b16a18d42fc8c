"""Files served from the node (attachments, link-card thumbnails, avatars) and identicons;
never as anything active."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import (
    Response,
    abort,
)

from ipfeed import media
from ipfeed.errors import (
    InvalidInput,
    IpfeedError,
)

from . import identicon
from .views import _feed_name, _known_post, _node_failed, _node_timeout, bp, svc, worker


@bp.get("/identicon/<name>.svg")
def identicon_svg(name: str) -> Response:
    """A name's identicon, made here from its hash (nothing remote is in it)."""
    resp = Response(identicon.svg(_feed_name(name)), mimetype="image/svg+xml")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return resp


def _file_response(data: bytes, kind: str, name: str) -> Response:
    inline = media.is_image(data[:16], kind)
    resp = Response(data, mimetype=kind if inline else "application/octet-stream")
    disposition = "inline" if inline else "attachment"
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(name)}"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return resp


def _card_thumb(post_cid: str, cid: str) -> dict[str, Any] | None:
    """A link card's thumbnail, as the post that carries the card declares it (served like
    its attachments: from the local node, only as an image)."""
    p = _known_post(post_cid)
    thumb = (p.card or {}).get("thumb") if p else None
    if not isinstance(thumb, dict) or thumb.get("cid") != cid or thumb.get("type") not in media.IMAGE_TYPES \
            or type(thumb.get("size")) is not int:
        return None
    return thumb


@bp.get("/post/<post_cid>/attachment/<cid>")
def attachment(post_cid: str, cid: str) -> Response:
    try:
        meta = svc().attachment(post_cid, cid) or _card_thumb(post_cid, cid)
    except InvalidInput as e:
        abort(404, description=str(e))
    if meta is None:
        abort(404, description=f"no indexed post {post_cid} carries the attachment {cid}")
    try:
        data = worker().call(svc().attachment_data(cid, meta), _node_timeout())
    except IpfeedError as e:
        raise _node_failed("This file cannot be fetched now",
                           "Neither your node nor the nodes it asked had this file in time: its "
                           "author's node may be offline. Try again later.", e) from e
    if len(data) != int(meta["size"]):
        raise _node_failed("This file is not what its post says",
                           "The file is not the size its post declares, so it is not shown.",
                           ValueError(f"attachment {cid}: {len(data)} bytes"))
    return _file_response(data, str(meta["type"]), str(meta["name"]))


@bp.get("/avatar/<name>")
def avatar(name: str) -> Response:
    st = svc().feed_state(_feed_name(name))
    cid = (st.profile.get("avatar") if st else None) or None
    if cid is None:
        abort(404, description="no avatar")
    try:
        data = worker().call(svc().cat(str(cid), media.MAX_AVATAR_BYTES), _node_timeout())
    except IpfeedError as e:
        raise _node_failed("This avatar cannot be fetched now",
                           "Your node could not fetch it in time; try again later.", e) from e
    kind = media.sniff_image(data[:16])
    if kind is None:
        abort(404, description=f"the avatar is not a {media.IMAGE_NAMES} image")
    return _file_response(data, kind, "avatar")
