#!/usr/bin/env python3
"""Verify an Anke audit bundle offline: the Merkle tree of RFC 9162 and Ed25519 checkpoints.

This one file is both Anke's own implementation of the audit trail's hashing and the stand-alone
verifier an auditor runs without Anke: it needs only the Python standard library and the
``cryptography`` package, and ``anke audit export`` copies it into every bundle as ``verify.py``.

    python3 verify.py BUNDLE_DIR --public-key KEY [--old-checkpoint saved.json]

Exit status 0 when everything in the bundle verifies, 1 when anything does not, 2 on bad usage.
The formats are described in docs/audit.md (§ "Offline verification").
"""

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHECKPOINT_HEADER = "anke-audit-checkpoint/v1"
EMPTY_ROOT = hashlib.sha256(b"").digest()


# --- canonical form and hashes (RFC 9162 §2.1.1) -------------------------------------------------

def canonical_json(document: dict) -> bytes:
    """One event as the bytes its leaf hash covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The roots of the perfect subtrees covering leaves [0, size): enough to extend the tree.

    Appending a leaf merges equal-sized subtrees like binary addition; the root of the whole tree
    folds them from the right, which is exactly RFC 9162's MTH for any size.
    """

    def __init__(self, size: int = 0, hashes: list[bytes] | None = None):
        self.size = size
        self.hashes = list(hashes or [])
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError("a frontier has one hash per set bit of its size")

    def append(self, leaf: bytes) -> None:
        node, size = leaf, self.size
        while size & 1:
            node = node_hash(self.hashes.pop(), node)
            size >>= 1
        self.hashes.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        node = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            node = node_hash(left, node)
        return node

    def nodes(self) -> dict[tuple[int, int], bytes]:
        """Each hash with the leaf range [lo, hi) it covers."""
        ranges, lo = {}, 0
        for bit, node in zip(_set_bits_high_first(self.size), self.hashes, strict=True):
            ranges[(lo, lo + bit)] = node
            lo += bit
        return ranges


def _set_bits_high_first(n: int) -> list[int]:
    return [1 << i for i in reversed(range(n.bit_length())) if n >> i & 1]


class ProofUnavailable(Exception):
    """A proof needs the hash of leaves that are no longer kept (pruned)."""


class Tree:
    """Subtree hashes over leaf hashes [first, first + len(leaves)), plus known subtrees.

    ``known`` maps leaf ranges (lo, hi) to hashes: the frontier left by pruning, or the nodes of
    a range proof. Any subtree is computed from the leaves it covers or found there.
    """

    def __init__(self, leaves: list[bytes], first: int = 0,
                 known: dict[tuple[int, int], bytes] | None = None):
        self.leaves, self.first, self.known = leaves, first, dict(known or {})
        self.used: set[tuple[int, int]] = set()

    def mth(self, lo: int, hi: int) -> bytes:
        if (lo, hi) in self.known:
            self.used.add((lo, hi))
            return self.known[(lo, hi)]
        if hi - lo == 0:
            return EMPTY_ROOT
        if hi - lo == 1:
            index = lo - self.first
            if not 0 <= index < len(self.leaves):
                raise ProofUnavailable(f"leaf {lo}")
            return self.leaves[index]
        k = largest_power_of_two_below(hi - lo)
        return node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))

    # RFC 9162 §2.1.3.1
    def inclusion_path(self, index: int, size: int, lo: int = 0) -> list[bytes]:
        n = size - lo
        if n <= 1:
            return []
        k = largest_power_of_two_below(n)
        if index < lo + k:
            return self.inclusion_path(index, lo + k, lo) + [self.mth(lo + k, size)]
        return self.inclusion_path(index, size, lo + k) + [self.mth(lo, lo + k)]

    # RFC 9162 §2.1.4.1
    def consistency_path(self, old_size: int, size: int) -> list[bytes]:
        if not 0 < old_size <= size:
            return []
        return self._subproof(old_size, 0, size, True)

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self.mth(lo, hi)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return self._subproof(m, lo, lo + k, whole) + [self.mth(lo + k, hi)]
        return self._subproof(m - k, lo + k, hi, False) + [self.mth(lo, lo + k)]

    def range_nodes(self, size: int, a: int, b: int) -> list[tuple[int, int, bytes]]:
        """The subtree hashes needed to recompute MTH(0, size) from the leaves [a, b)."""
        return [(lo, hi, self.mth(lo, hi)) for lo, hi in range_positions(size, a, b)]


def range_positions(size: int, a: int, b: int, lo: int = 0,
                    hi: int | None = None) -> list[tuple[int, int]]:
    """The largest subtrees of the tree of ``size`` leaves that lie outside [a, b): exactly the
    nodes a range proof must carry, no more (a node over the range would hide its events)."""
    hi = size if hi is None else hi
    if hi <= a or lo >= b:
        return [(lo, hi)]
    if a <= lo and hi <= b:
        return []
    k = largest_power_of_two_below(hi - lo)
    return range_positions(size, a, b, lo, lo + k) + range_positions(size, a, b, lo + k, hi)


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, old_root: bytes, size: int, root: bytes,
                       path: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2 (an equal size needs no proof; the empty tree precedes every tree)."""
    if old_size > size:
        return False
    if old_size == size:
        return not path and old_root == root
    if old_size == 0:
        return not path
    if not path:
        return False
    if old_size & (old_size - 1) == 0:
        path = [old_root, *path]
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == root and sn == 0


# --- checkpoints --------------------------------------------------------------------------------

def checkpoint_message(origin: str, size: int, root: bytes, at: str) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    root_text = base64.b64encode(root).decode()
    return f"{CHECKPOINT_HEADER}\n{origin}\n{size}\n{root_text}\n{at}\n".encode()


def prune_message(origin: str, size: int, root: bytes, at: str) -> bytes:
    """The bytes a retention prune point's signature covers: the trail was cut below ``size``,
    whose tree had ``root``, at ``at``."""
    root_text = base64.b64encode(root).decode()
    return f"anke-audit-prune/v1\n{origin}\n{size}\n{root_text}\n{at}\n".encode()


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def signature_valid(checkpoint: dict, public_keys: dict[str, bytes],
                    message_of=checkpoint_message) -> bool:
    """``checkpoint`` as exported (origin, size, root and signature base64, at, key_id)."""
    public = public_keys.get(checkpoint.get("key_id", ""))
    if public is None:
        return False
    try:
        message = message_of(checkpoint["origin"], int(checkpoint["size"]),
                             base64.b64decode(checkpoint["root"]), checkpoint["at"])
        Ed25519PublicKey.from_public_bytes(public).verify(
            base64.b64decode(checkpoint["signature"]), message)
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return True


# --- the bundle ---------------------------------------------------------------------------------

def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class BundleInvalid(Exception):
    """The bundle is malformed: it proves nothing."""


def _no_duplicate_keys(pairs: list) -> dict:
    keys = [key for key, _value in pairs]
    if len(keys) != len(set(keys)):
        raise BundleInvalid("a key appears twice")
    return dict(pairs)


def _read_events(path: Path) -> list[dict]:
    """Each line exactly one event in canonical form: what is hashed is what is shown."""
    events = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.rstrip("\n")
            try:
                event = json.loads(text, object_pairs_hook=_no_duplicate_keys)
            except (ValueError, BundleInvalid) as error:
                raise BundleInvalid(f"events.jsonl line {number}: {error}") from None
            if not isinstance(event, dict) or canonical_json(event) != text.encode("utf-8") \
                    or type(event.get("seq")) is not int:
                raise BundleInvalid(f"events.jsonl line {number} is not a canonical event")
            events.append(event)
    seqs = [e["seq"] for e in events]
    if len(seqs) != len(set(seqs)):
        raise BundleInvalid("events.jsonl holds a sequence number twice")
    return events


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def verify_bundle(bundle: Path, public_keys: dict[str, bytes],
                  old_checkpoint: dict | None = None) -> list[str]:
    """Every problem found in the bundle, in order; an empty list means it verifies."""
    try:
        return _verify_bundle(bundle, public_keys, old_checkpoint)
    except BundleInvalid as error:
        return [str(error)]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"the bundle is malformed ({type(error).__name__}: {error})"]


def _verify_bundle(bundle: Path, public_keys: dict[str, bytes],
                   old_checkpoint: dict | None) -> list[str]:
    problems = []
    events = _read_events(bundle / "events.jsonl")
    checkpoints = _read_jsonl(bundle / "checkpoints.jsonl")
    proof = json.loads((bundle / "proof.json").read_text(encoding="utf-8"))
    for checkpoint in checkpoints:
        if not signature_valid(checkpoint, public_keys):
            problems.append(f"checkpoint at size {checkpoint.get('size')}: bad signature "
                            f"or unknown key {checkpoint.get('key_id')!r}")
    head = next((c for c in checkpoints if c.get("size") == proof.get("checkpoint_size")), None)
    if head is None:
        return [*problems, "the proof names no checkpoint of the bundle"]
    size, root = int(head["size"]), _b64(head["root"])
    leaves = {e["seq"]: leaf_hash(canonical_json(e)) for e in events}
    if ("range" in proof) == ("inclusion" in proof):
        return [*problems, "the proof must hold either a range or inclusion proofs"]
    if "range" in proof:
        problems += _verify_range(proof, leaves, size, root)
    else:
        paths = {int(seq): path for seq, path in proof["inclusion"].items()}
        if set(paths) != set(leaves) or len(paths) != len(proof["inclusion"]):
            return [*problems, "every event needs exactly one inclusion proof"]
        for seq in sorted(leaves):
            if not verify_inclusion(leaves[seq], seq, size,
                                    [bytes.fromhex(h) for h in paths[seq]], root):
                problems.append(f"event {seq}: not included in the tree of size {size}")
    if old_checkpoint is not None:
        problems += _verify_extends(old_checkpoint, proof, public_keys, size, root)
    return problems


def _verify_range(proof: dict, leaves: dict[int, bytes], size: int, root: bytes) -> list[str]:
    a, b = (int(x) for x in proof["range"])
    if not 0 <= a < b <= size or set(leaves) != set(range(a, b)):
        return [f"the bundle's events are not exactly the range [{a}, {b}) of a tree of "
                f"size {size}"]
    known = {(int(lo), int(hi)): bytes.fromhex(h) for lo, hi, h in proof["nodes"]}
    if sorted(known) != range_positions(size, a, b) or len(known) != len(proof["nodes"]):
        return ["the range proof carries other nodes than the subtrees outside the range"]
    recomputed = Tree([leaves[seq] for seq in range(a, b)], a, known).mth(0, size)
    if recomputed == root:
        return []
    return [f"events [{a}, {b}) do not hash to the signed root of size {size}"]


def _verify_extends(old: dict, proof: dict, public_keys: dict[str, bytes], size: int,
                    root: bytes) -> list[str]:
    if not signature_valid(old, public_keys):
        return ["the saved checkpoint's signature does not verify"]
    consistency = proof.get("consistency")
    old_size = int(old["size"])
    if not consistency or int(consistency["from_size"]) != old_size:
        return [f"the bundle has no consistency proof from size {old_size}"]
    path = [bytes.fromhex(h) for h in consistency["path"]]
    if not verify_consistency(old_size, _b64(old["root"]), size, root, path):
        return [f"the history of size {size} does not extend the saved checkpoint of size "
                f"{old_size}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an Anke audit bundle offline.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--public-key", action="append", default=[],
                        help="the signing public key you were given (base64); repeatable")
    parser.add_argument("--old-checkpoint", type=Path,
                        help="a checkpoint you saved earlier: prove the bundle extends it")
    args = parser.parse_args(argv)
    if args.public_key:
        public_keys = {key_id(_b64(k)): _b64(k) for k in args.public_key}
    else:
        bundled = json.loads((args.bundle / "public_keys.json").read_text(encoding="utf-8"))
        public_keys = {k: _b64(v) for k, v in bundled.items()}
        print("warning: trusting the public keys inside the bundle; pass --public-key to check "
              "against the key you hold", file=sys.stderr)
    old = json.loads(args.old_checkpoint.read_text(encoding="utf-8")) \
        if args.old_checkpoint else None
    problems = verify_bundle(args.bundle, public_keys, old)
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print("OK every event, proof and signature in the bundle verifies")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
