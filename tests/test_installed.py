"""Installed versions read in one pass over sys.path: the same answers as importlib.metadata."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_tokenbudget.installed import normalize, version, versions


def dist_info(root: Path, folder: str, text: str, file: str = "METADATA") -> None:
    (root / folder).mkdir(parents=True)
    (root / folder / file).write_text(text, encoding="utf-8")


def importlib_versions(names: list[str]) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def test_every_installed_distribution_reads_as_importlib_metadata_reads_it() -> None:
    names = sorted({d.metadata["Name"] for d in metadata.distributions()} | {"not-installed-x"})
    assert versions(names) == importlib_versions(names)
    assert len(versions(names)) == len(names) - 1


def test_the_first_on_sys_path_wins_and_every_layout_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    dist_info(
        first,
        "Google_GenAI-1.2.0.dist-info",
        "Metadata-Version: 2.1\nName: google-genai\nVersion: 1.2.0\n\nVersion: not-a-header\n",
    )
    dist_info(second, "google_genai-9.9.9.dist-info", "Name: google-genai\nVersion: 9.9.9\n")
    dist_info(second, "legacy.egg-info", "Name: legacy\nVersion: 0.3\n", file="PKG-INFO")
    (second / "flat.egg-info").write_text("Name: flat\nVersion: 4.5\n", encoding="utf-8")
    dist_info(second, "broken-1.0.dist-info", "Name: broken\n\nVersion: 1.0\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(first), str(second)])
    names = ["google-genai", "legacy", "flat", "broken", "absent"]
    expected = {"google-genai": "1.2.0", "legacy": "0.3", "flat": "4.5"}
    assert versions(names) == expected
    assert {k: v for k, v in importlib_versions(names).items() if v is not None} == expected
    assert version("google.genai") == "1.2.0"  # any spelling of the name
    assert version("absent") is None


def test_a_zip_on_sys_path_is_left_to_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("zipped-2.0.dist-info/METADATA", "Name: zipped\nVersion: 2.0\n")
    plain = tmp_path / "plain"
    dist_info(plain, "plain-1.0.dist-info", "Name: plain\nVersion: 1.0\n")
    monkeypatch.setattr(sys, "path", [str(plain), str(archive)])
    assert versions(["plain", "zipped", "absent"]) == {"plain": "1.0", "zipped": "2.0"}


def test_names_are_normalized_as_importlib_metadata_does() -> None:
    assert normalize("Google.GenAI") == normalize("google-genai") == "google_genai"
    assert normalize("a__b--c") == "a_b_c"


def test_sys_path_is_listed_once_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's end asks for versions twice (the SDKs, genai-prices): one listing serves both;
    another ``sys.path`` is listed again."""
    first, second = tmp_path / "a", tmp_path / "b"
    dist_info(first, "one-1.0.dist-info", "Name: one\nVersion: 1.0\n")
    dist_info(second, "two-2.0.dist-info", "Name: two\nVersion: 2.0\n")
    listed: list[str] = []
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: listed.append(path) or real(path))
    monkeypatch.setattr(sys, "path", [str(first)])
    assert versions(["one", "two"]) == {"one": "1.0"}
    assert version("one") == "1.0"
    assert listed == [str(first)]
    sys.path.append(str(second))  # changed in place, as site and pytest change it
    assert versions(["one", "two"]) == {"one": "1.0", "two": "2.0"}
    assert listed == [str(first), str(first), str(second)]
