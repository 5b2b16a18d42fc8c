"""Attaching local files (offline, no node): the name rule of FORMAT.md section 3 is applied to
what the local user attaches exactly as every reader applies it, before anything is saved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import test_settings as settings_for

from ipfeed import Service
from ipfeed.errors import InvalidInput


@pytest.fixture
def service(tmp_path: Path) -> Service:
    s = Service(settings_for(tmp_path / "home"))
    s.init()
    return s


def staged(s: Service) -> list[str]:
    folder = s.settings.outbox_path.parent / "outbox-files"
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_a_file_name_that_is_not_utf8_is_refused_by_name_before_anything_is_saved(
        service: Service, tmp_path: Path) -> None:
    good = tmp_path / "ok.txt"
    good.write_bytes(b"fine")
    raw = os.fsencode(tmp_path) + b"/caf\xe9.txt"  # Latin-1 bytes: Python sees 'caf\udce9.txt'
    with open(raw, "wb") as f:
        f.write(b"hello")
    bad = Path(os.fsdecode(raw))
    with pytest.raises(InvalidInput, match=r"cannot attach .*caf\\xe9\.txt: the file name .*not valid UTF-8"):
        service.save("hi", attach=[good, bad])
    assert service.drafts() == [] and staged(service) == []


@pytest.mark.parametrize("name", ["a\x85b.txt", "a\x7f.txt", "\x9f.txt", "evil\u202etxt.exe",
                                  "a\u2066b.txt", "a\u061cb.txt", "a\u200fb.txt"],
                         ids=lambda n: ascii(n))
def test_control_and_bidi_characters_in_a_file_name_are_refused_on_write(
        service: Service, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    with pytest.raises(InvalidInput, match=r"no (control character|bidi control) \(U\+"):
        service.save("hi", attach=[path])
    assert service.drafts() == [] and staged(service) == []


def test_a_plain_non_ascii_file_name_is_attached(service: Service, tmp_path: Path) -> None:
    path = tmp_path / "café\u00a0menu.txt"  # U+00A0 is a space (Zs), not a control
    path.write_bytes(b"x")
    service.save("hi", attach=[path])
    [draft] = service.drafts()
    assert draft.attachments[0]["name"] == "café\u00a0menu.txt"


@pytest.mark.parametrize(("name", "media"), [
    ("backup.tar.gz", "application/gzip"), ("backup.tgz", "application/gzip"),
    ("notes.txt.gz", "application/gzip"), ("backup.tar.bz2", "application/x-bzip2"),
    ("backup.tar.xz", "application/x-xz"), ("page.html.br", "application/octet-stream"),
    ("backup.tar", "application/x-tar"), ("a.txt", "text/plain"), ("noext", "application/octet-stream"),
])
def test_a_compressed_file_is_declared_as_what_its_bytes_are(service: Service, tmp_path: Path,
                                                             name: str, media: str) -> None:
    """mimetypes says a .tar.gz is application/x-tar (with encoding gzip): the bytes are gzip."""
    path = tmp_path / name
    path.write_bytes(b"\x1f\x8b")
    service.save("", attach=[path])
    [draft] = service.drafts()
    assert draft.attachments[0]["type"] == media
