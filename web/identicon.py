"""Identicons: a 5x5 mirrored pattern and a colour, both from a hash of an IPNS name, so two
names that look alike in text look different at a glance. Plain SVG made here, no input text
in it: only rectangles and a colour computed from the hash."""

from __future__ import annotations

import colorsys
import hashlib

SIZE = 5


def svg(name: str) -> str:
    """The identicon of a (canonical) name as an SVG document."""
    digest = hashlib.blake2b(name.encode(), digest_size=32, person=b"ipfeed-identicon").digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    red, green, blue = colorsys.hls_to_rgb(hue, (38 + digest[3] % 20) / 100, (45 + digest[2] % 30) / 100)
    colour = f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
    bits = int.from_bytes(digest[4:8], "big")
    cells = []
    for row in range(SIZE):
        for col in range((SIZE + 1) // 2):
            if bits >> (row * 3 + col) & 1:
                for x in {col, SIZE - 1 - col}:
                    cells.append(f'<rect x="{x}" y="{row}" width="1" height="1"/>')
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="-0.5 -0.5 6 6" width="60" height="60">'
            '<rect x="-0.5" y="-0.5" width="6" height="6" fill="#f0f0ee"/>'
            f'<g fill="{colour}">{"".join(cells)}</g></svg>')
