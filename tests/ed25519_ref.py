"""A small, independent ed25519 in pure Python (the math of RFC 8032, section 5.1), used only
to construct edge-case signatures and to model libsodium's verification rule (FORMAT.md 2a).

Slow and not constant-time: never use it for real keys. It shares no code with pynacl.
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, xy = T/Z
IDENTITY: Point = (0, 1, 1, 0)


def _inv(x: int) -> int:
    return pow(x, P - 2, P)


def add(p: Point, q: Point) -> Point:
    """p + q (RFC 8032 5.1.4, complete for a = -1)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def neg(p: Point) -> Point:
    """-p."""
    x, y, z, t = p
    return (-x % P, y, z, -t % P)


def mul(n: int, p: Point) -> Point:
    """[n]p by double-and-add (n >= 0)."""
    out = IDENTITY
    while n:
        if n & 1:
            out = add(out, p)
        p = add(p, p)
        n >>= 1
    return out


def equal(p: Point, q: Point) -> bool:
    """Whether two points are the same (projective comparison)."""
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def affine(p: Point) -> tuple[int, int]:
    """(x, y) of a point."""
    zi = _inv(p[2])
    return p[0] * zi % P, p[1] * zi % P


def from_affine(x: int, y: int) -> Point:
    return (x % P, y % P, 1, x * y % P)


def encode(p: Point) -> bytes:
    """The canonical 32-byte encoding: y little-endian, the low bit of x in bit 255."""
    x, y = affine(p)
    return (y | (x & 1) << 255).to_bytes(32, "little")


def encode_y(y: int, sign: int) -> bytes:
    """Any 32 bytes of the form y + sign * 2^255 (y may be >= p: a non-canonical encoding)."""
    return (y | sign << 255).to_bytes(32, "little")


def x_of(y: int, sign: int) -> int | None:
    """The x of the point with this y (mod p) and x's low bit `sign` (RFC 8032 5.1.3), or None
    if there is none; x = 0 with sign 1 is returned as 0 (libsodium accepts it, RFC 8032 not)."""
    y %= P
    x2 = (y * y - 1) * _inv(D * y * y + 1) % P
    if x2 == 0:
        return 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    return P - x if x & 1 != sign else x


def decode(s: bytes) -> Point | None:
    """The point of an encoding, reading y modulo p as libsodium does (so non-canonical
    encodings decode too); None if y is not the y of any point."""
    n = int.from_bytes(s, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    x = x_of(y, sign)
    return None if x is None else from_affine(x, y)


def is_canonical(s: bytes) -> bool:
    """Whether y (bits 0..254) is below p; the sign bit is not looked at."""
    return int.from_bytes(s, "little") & ((1 << 255) - 1) < P


B: Point = from_affine(x_of(4 * _inv(5) % P, 0) or 0, 4 * _inv(5))


def order(p: Point) -> int:
    """The order of a point: a divisor of 8 * L."""
    for n in (1, 2, 4, 8, L, 2 * L, 4 * L, 8 * L):
        if equal(mul(n, p), IDENTITY):
            return n
    raise AssertionError("not a curve point")  # pragma: no cover


def torsion() -> list[Point]:
    """The 8 points of small order (the torsion subgroup), [i]T8 for i = 0..7."""
    y = 2
    while True:
        x = x_of(y, 0)
        if x is not None:
            t = mul(L, from_affine(x, y))
            if order(t) == 8:
                return [mul(i, t) for i in range(8)]
        y += 1


def is_small_order(p: Point) -> bool:
    return equal(mul(8, p), IDENTITY)


def scalar(data: bytes) -> int:
    """SHA-512 of data as a little-endian integer, mod L."""
    return int.from_bytes(hashlib.sha512(data).digest(), "little") % L


def secret(seed: bytes) -> tuple[int, bytes]:
    """The clamped secret scalar and the nonce prefix of a 32-byte seed (RFC 8032 5.1.5)."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public(seed: bytes) -> bytes:
    return encode(mul(secret(seed)[0], B))


def sign(seed: bytes, msg: bytes) -> bytes:
    """An RFC 8032 signature."""
    a, prefix = secret(seed)
    r = scalar(prefix + msg)
    rb = encode(mul(r, B))
    k = scalar(rb + encode(mul(a, B)) + msg)
    return rb + ((r + k * a) % L).to_bytes(32, "little")


def equations(pk: bytes, msg: bytes, sig: bytes) -> tuple[bool, bool]:
    """(cofactorless, cofactored): whether [S]B = R + [k]A, and whether [8][S]B = [8]R +
    [8][k]A, with k = SHA-512(R || A || M) mod L over the bytes as given; S is used as is."""
    a, r = decode(pk), decode(sig[:32])
    if a is None or r is None:
        return False, False
    s = int.from_bytes(sig[32:], "little")
    k = scalar(sig[:32] + pk + msg)
    diff = add(mul(s, B), neg(add(r, mul(k, a))))
    return equal(diff, IDENTITY), is_small_order(diff)


def _y(s: bytes) -> int:
    return int.from_bytes(s, "little") & ((1 << 255) - 1)


def small_order_ys() -> frozenset[int]:
    """The y (bits 0..254, sign ignored) of every encoding of a small-order point: the 8
    points' y values and, where y + p still fits in 255 bits, the non-canonical y + p."""
    ys = {affine(t)[1] for t in torsion()}
    return frozenset(ys | {y + P for y in ys if y + P < 1 << 255})


def libsodium_verdict(pk: bytes, msg: bytes, sig: bytes) -> bool:
    """A model of libsodium's crypto_sign_verify_detached (released versions 1.0.18 … 1.0.22,
    FORMAT.md 2a): S < L; R's and A's encodings not of a small-order point; A canonical and a
    point; then the canonical encoding of [S]B - [k]A must be R's 32 bytes exactly."""
    s = int.from_bytes(sig[32:], "little")
    if s >= L or _y(sig[:32]) in _SMALL or not is_canonical(pk) or _y(pk) in _SMALL:
        return False
    a = decode(pk)
    if a is None:
        return False
    k = scalar(sig[:32] + pk + msg)
    return encode(add(mul(s, B), neg(mul(k, a)))) == sig[:32]


_SMALL = small_order_ys()
