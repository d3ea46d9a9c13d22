"""The RFC 9162 primitives of ``anke.audit.offline`` against a naive tree, for every small size."""

import ast
import sys
from pathlib import Path

import pytest

from anke.audit import offline
from anke.audit.offline import (
    EMPTY_ROOT,
    Frontier,
    ProofUnavailable,
    Tree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(40)]


def naive_root(leaves):
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def test_known_vectors_of_rfc_9162_hashing():
    # The empty tree is SHA-256 of nothing; a leaf and a node are domain-separated.
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert node_hash(b"a", b"b") != node_hash(b"b", b"a")


@pytest.mark.parametrize("size", range(1, 34))
def test_frontier_root_inclusion_and_consistency_match_the_naive_tree(size):
    frontier = Frontier()
    for leaf in LEAVES[:size]:
        frontier.append(leaf)
    root = naive_root(LEAVES[:size])
    assert frontier.root() == root
    tree = Tree(LEAVES[:size])
    for index in range(size):
        path = tree.inclusion_path(index, size)
        assert verify_inclusion(LEAVES[index], index, size, path, root)
        assert not verify_inclusion(LEAVES[index - 1] if size > 1 else b"x" * 32, index, size,
                                    path, root)
    for old in range(size + 1):
        path = tree.consistency_path(old, size)
        old_root = naive_root(LEAVES[:old])
        assert verify_consistency(old, old_root, size, root, path)
        if 0 < old < size:
            assert not verify_consistency(old, leaf_hash(b"forked"), size, root, path)


@pytest.mark.parametrize("size", [1, 2, 7, 8, 13, 32, 33])
def test_range_nodes_recompute_the_root_from_any_contiguous_range(size):
    root = naive_root(LEAVES[:size])
    full = Tree(LEAVES[:size])
    for a in range(size):
        for b in range(a + 1, size + 1):
            known = {(lo, hi): h for lo, hi, h in full.range_nodes(size, a, b)}
            assert Tree(LEAVES[a:b], a, known).mth(0, size) == root
            if b - a > 1:
                changed = [*LEAVES[a:b - 1], leaf_hash(b"edited")]
                assert Tree(changed, a, known).mth(0, size) != root


@pytest.mark.parametrize("pruned", [1, 5, 8, 11])
def test_a_pruned_frontier_still_proves_everything_after_it(pruned):
    size = 30
    root = naive_root(LEAVES[:size])
    kept = Frontier()
    for leaf in LEAVES[:pruned]:
        kept.append(leaf)
    tree = Tree(LEAVES[pruned:size], pruned, kept.nodes())
    assert tree.mth(0, size) == root
    for old in range(pruned, size + 1):
        assert verify_consistency(old, naive_root(LEAVES[:old]), size, root,
                                  tree.consistency_path(old, size))
    if pruned > 1:  # the pruned leaves' own hashes are gone: no proof may pretend otherwise
        with pytest.raises(ProofUnavailable):
            tree.inclusion_path(0, size)
        with pytest.raises(ProofUnavailable):
            tree.consistency_path(1, size)


def test_the_offline_verifier_needs_only_the_standard_library_and_cryptography():
    source = Path(offline.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}
