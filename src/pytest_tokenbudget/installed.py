"""The versions of installed distributions, as ``importlib.metadata.version`` gives them, read
in one pass over ``sys.path`` (pure but for the file system).

``importlib.metadata.version`` searches every ``sys.path`` entry again for each name and parses
the whole metadata file with the ``email`` package: about 0.5 ms a name, and a run's end asks
for a dozen (the report's ``environment``, the price table's version). Here each directory is
listed once a process (again when ``sys.path`` changes: a distribution installed into a listed
folder later is not seen) and only a metadata file's ``Version:`` header line is read. An entry
that is not a directory (a zip file, an egg) is left to ``importlib.metadata``, as are the names
it might hold; a finder on ``sys.meta_path`` that knows distributions of its own is not asked.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Iterable

#: As ``importlib.metadata``'s ``Prepared.normalize``: ``Google.GenAI`` -> ``google_genai``.
_SEPARATORS = re.compile(r"[-_.]+")
_SUFFIXES = (".dist-info", ".egg-info")


def normalize(name: str) -> str:
    return _SEPARATORS.sub("_", name).lower()


def versions(names: Iterable[str]) -> dict[str, str]:
    """``name -> version`` for each of ``names`` installed (the first found on ``sys.path``,
    as ``importlib.metadata`` finds it); a name not installed is left out."""
    wanted = list(names)
    listed, stopped = _listing()
    found: dict[str, str] = {}
    for name in wanted:
        for path, dist_info in listed.get(normalize(name), ()):
            version = _version(path, dist_info)
            if version is not None:
                found[name] = version
                break
    if stopped:  # a zip file or an egg: importlib.metadata reads what was not found before it
        return {**_from_importlib(n for n in wanted if n not in found), **found}
    return found


#: The last listing of ``sys.path`` (``_listing``), with the path it was made for.
_listed: tuple[list[str], dict[str, list[tuple[str, bool]]], bool] | None = None


def _listing() -> tuple[dict[str, list[tuple[str, bool]]], bool]:
    """Each distribution's metadata on ``sys.path`` by normalized name (its folders or files in
    path order, each with whether it is a ``.dist-info``), and whether an entry that is not a
    directory stopped the listing. Made once for a ``sys.path``: a run's end asks twice."""
    global _listed
    path = sys.path
    if _listed is not None and _listed[0] == path:
        return _listed[1], _listed[2]
    where: dict[str, list[tuple[str, bool]]] = {}
    stopped = False
    for entry in path:
        root = entry or "."
        try:
            children = os.listdir(root)
        except NotADirectoryError:  # a zip file or an egg: importlib.metadata reads those
            stopped = True
            break
        except OSError:  # missing or unreadable: importlib.metadata skips it too
            continue
        for child in children:
            low = child.lower()
            if low.endswith(_SUFFIXES):
                name = normalize(low.rpartition(".")[0].partition("-")[0])
                place = (os.path.join(root, child), low.endswith(".dist-info"))
                where.setdefault(name, []).append(place)
    _listed = (list(path), where, stopped)
    return where, stopped


def _version(path: str, dist_info: bool) -> str | None:
    """The ``Version:`` header of a ``.dist-info`` folder's ``METADATA``, an ``.egg-info``
    folder's ``PKG-INFO``, or an ``.egg-info`` file itself (None: none readable)."""
    if os.path.isdir(path):
        path = os.path.join(path, "METADATA" if dist_info else "PKG-INFO")
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if not line.strip():  # the headers end at the first empty line
                    return None
                key, colon, value = line.partition(":")
                if colon and key.lower() == "version":
                    return value.strip()
    except OSError:
        return None
    return None


def _from_importlib(names: Iterable[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def version(name: str) -> str | None:
    """The installed version of ``name``, or None."""
    return versions((name,)).get(name)
