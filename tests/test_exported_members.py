"""The public API is what `ipfeed.__all__` lists, and it lists every public name (httpx's rule)."""

from __future__ import annotations

import types

import ipfeed
from ipfeed import errors


def test_all_public_names_are_exported() -> None:
    included_private_members = ["__version__"]
    public = [name for name, value in vars(ipfeed).items()
              if not isinstance(value, types.ModuleType)  # submodules are importable, not members
              and (not name.startswith("_") or name in included_private_members)]
    assert len(ipfeed.__all__) == len(set(ipfeed.__all__))
    assert sorted(ipfeed.__all__) == sorted(public)


def test_every_error_class_is_exported() -> None:
    classes = {name for name, value in vars(errors).items()
               if isinstance(value, type) and issubclass(value, errors.IpfeedError)}
    assert classes <= set(ipfeed.__all__)
    assert all(getattr(ipfeed, name) is getattr(errors, name) for name in classes)


def test_public_api_is_pinned() -> None:
    """A name added to or removed from the public API is a decision, made here on purpose."""
    assert ipfeed.__all__ == [
        "AnotherHome", "AuthError", "ChainError", "Equivocation", "FeedLocked", "FeedNotAdopted",
        "FeedView", "Fork", "HomeError", "IdentityError", "InsecureKeyFile", "InvalidArchive",
        "InvalidBlock", "InvalidContent", "InvalidContents", "InvalidEntry", "InvalidFollows",
        "InvalidInput", "InvalidModeration", "InvalidNotice", "InvalidObject", "InvalidPost",
        "InvalidRecord", "InvalidRoot", "IpfeedError", "KuboNotFound", "MissingIdentity", "NewerFormat",
        "NewerSchema", "NodeError", "NodeFailed", "NodeTimeout", "NodeUnavailable", "NotFound",
        "NotPaired", "OutboxDamaged", "PostResult", "PublishPending", "PublishResult", "RateLimited",
        "RemoteError", "RemoteUnreachable", "Revoked",
        "Rollback", "Service", "Settings", "SyncResult", "WouldFork", "__version__",
    ]
