"""What a file is by its first bytes: the four image types ipfeed shows inline (pure, no IO)."""

from __future__ import annotations

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
IMAGE_NAMES = "PNG, JPEG, GIF or WebP"
MAX_AVATAR_BYTES = 5 * 1024 * 1024


def sniff_image(head: bytes) -> str | None:
    """The media type of a PNG, JPEG, GIF or WebP image by its magic bytes, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_image(data: bytes, media: str) -> bool:
    """Whether `data` is an image of exactly the declared `media` type (by its bytes)."""
    return media in IMAGE_TYPES and sniff_image(data) == media
