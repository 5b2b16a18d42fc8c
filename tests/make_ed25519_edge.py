"""Write tests/data/ed25519-edge.json: ed25519 edge cases built with the independent pure-Python
arithmetic of tests/ed25519_ref.py, each with the verdict of libsodium's rule (FORMAT.md 2a).

Run from the repository root: `python tests/make_ed25519_edge.py`. The output is deterministic
(fixed seeds, messages found by counting), and tests/test_identity.py checks that a fresh run
gives the committed file byte for byte.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import ed25519_ref as ed

OUT = Path(__file__).parent / "data" / "ed25519-edge.json"
SEED = bytes(range(32))  # the identity of FORMAT.md's test vectors
A_SECRET = ed.secret(SEED)[0]
A_BYTES = ed.public(SEED)
R_NONCE = 0x1234567  # a fixed nonce r for the constructed cases (never do this with a real key)


def le(n: int) -> bytes:
    return n.to_bytes(32, "little")


def message_where(test: Callable[[bytes], bool]) -> bytes:
    """The first message `ipfeed edge case N` (N = 0, 1, …) for which test holds."""
    n = 0
    while not test(m := f"ipfeed edge case {n}".encode()):
        n += 1
    return m


def case(comment: str, pk: bytes, msg: bytes, sig: bytes) -> dict[str, Any]:
    cofactorless, cofactored = ed.equations(pk, msg, sig)
    return {"comment": comment, "public": pk.hex(), "message": msg.hex(), "signature": sig.hex(),
            "cofactorless": cofactorless, "cofactored": cofactored,
            "valid": ed.libsodium_verdict(pk, msg, sig)}


def small_order_public(comment: str, pk: bytes) -> dict[str, Any]:
    """A small-order key A with S = r, R = [r]B and a message where [k]A = 0: the equation holds."""
    point = ed.decode(pk)
    assert point is not None
    rb = ed.encode(ed.mul(R_NONCE, ed.B))
    msg = message_where(lambda m: ed.equal(ed.mul(ed.scalar(rb + pk + m), point), ed.IDENTITY))
    return case(comment, pk, msg, rb + le(R_NONCE))


def small_order_r(comment: str, rb: bytes) -> dict[str, Any]:
    """R of small order, S = k·a: [S]B = [k]A, so R + [k]A - [S]B = R (small order)."""
    msg = b"ipfeed edge case"
    k = ed.scalar(rb + A_BYTES + msg)
    return case(comment, A_BYTES, msg, rb + le(k * A_SECRET % ed.L))


def build() -> dict[str, Any]:
    t = ed.torsion()  # t[i] = [i]T8
    cases = []
    msg = b"hello, ipfeed"
    sig = ed.sign(SEED, msg)
    cases.append(case("valid signature (RFC 8032)", A_BYTES, msg, sig))
    cases.append(case("valid signature of the empty message", A_BYTES, b"", ed.sign(SEED, b"")))
    s = int.from_bytes(sig[32:], "little")
    cases.append(case("S + L: the same signature with a non-canonical S", A_BYTES, msg,
                      sig[:32] + le(s + ed.L)))
    cases.append(case("S + 15L: top bits of S set", A_BYTES, msg, sig[:32] + le(s + 15 * ed.L)))
    cases.append(case("wrong message", A_BYTES, b"hello, ipfeed!", sig))
    for i, point in enumerate(t):
        cases.append(small_order_public(f"A = [{i}]T8, of order {ed.order(point)} (equation holds)",
                                        ed.encode(point)))
    p = ed.P
    cases.append(small_order_public("A non-canonical: y = p + 1 (the identity)", ed.encode_y(p + 1, 0)))
    cases.append(small_order_public("A non-canonical: y = p (order 4, x even)", ed.encode_y(p, 0)))
    cases.append(small_order_public("A non-canonical: y = p (order 4, x odd)", ed.encode_y(p, 1)))
    cases.append(small_order_public("A = identity with the sign bit set (x = -0)", ed.encode_y(1, 1)))
    no_x = next(y for y in range(2, 100) if ed.x_of(y, 0) is None)
    cases.append(case(f"A is not a point (no x for y = {no_x})", ed.encode_y(no_x, 0), msg, sig))
    for i, point in enumerate(t):
        cases.append(small_order_r(f"R = [{i}]T8, of order {ed.order(point)}, S = k·a", ed.encode(point)))
    cases.append(small_order_r("R non-canonical: y = p + 1 (the identity), S = k·a", ed.encode_y(p + 1, 0)))
    cases.append(small_order_r("R non-canonical: y = p (order 4), S = k·a", ed.encode_y(p, 0)))
    cases.append(small_order_r("R = identity with the sign bit set (x = -0), S = k·a", ed.encode_y(1, 1)))
    cases.append(case(f"R is not a point (no x for y = {no_x})", A_BYTES, msg,
                      ed.encode_y(no_x, 0) + sig[32:]))
    # Mixed order: a prime-order point plus the order-8 point T8.
    mixed_a = ed.encode(ed.add(ed.mul(A_SECRET, ed.B), t[1]))
    rb = ed.encode(ed.mul(R_NONCE, ed.B))

    def mixed_a_case(comment: str, want_multiple_of_8: bool) -> dict[str, Any]:
        m = message_where(lambda m: (ed.scalar(rb + mixed_a + m) % 8 == 0) == want_multiple_of_8)
        k = ed.scalar(rb + mixed_a + m)
        return case(comment, mixed_a, m, rb + le((R_NONCE + k * A_SECRET) % ed.L))
    cases.append(mixed_a_case("A = [a]B + T8 (mixed order), 8 does not divide k: "
                              "only the cofactored equation holds", False))
    cases.append(mixed_a_case("A = [a]B + T8 (mixed order), 8 divides k: both equations hold", True))
    mixed_r = ed.encode(ed.add(ed.mul(R_NONCE, ed.B), t[1]))
    k = ed.scalar(mixed_r + A_BYTES + msg)
    cases.append(case("R = [r]B + T8 (mixed order): only the cofactored equation holds", A_BYTES, msg,
                      mixed_r + le((R_NONCE + k * A_SECRET) % ed.L)))
    return {
        "about": "ed25519 edge cases for FORMAT.md 2a, generated by tests/make_ed25519_edge.py with "
                 "the independent arithmetic of tests/ed25519_ref.py; valid is libsodium's verdict "
                 "(crypto_sign_verify_detached, releases 1.0.18 to 1.0.22), which ipfeed.identity.verify "
                 "must give; cofactorless / cofactored say which equation the signature satisfies",
        "cases": cases,
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
