"""Downloads that never leave a bad file behind: resumable (HTTP Range), sha256-verified,
atomic (the final name appears only once the content checks out), with a progress bar."""

from __future__ import annotations

import os
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from ..files import sha256_of

CHUNK = 1 << 16  # bytes per read: a dropped connection loses at most the read in progress


class DownloadError(UserError):
    """A download that could not be completed or verified; the message says why."""


def download(url: str, dest: Path, sha256: str | None, size: int | None = None,
             timeout: float = 60, progress: bool = True) -> Path:
    """Fetch ``url`` into ``dest``.

    The bytes go to ``dest.part`` first; an interrupted download resumes from there with a
    Range request. Only a file whose sha256 (and size, when known) matches is renamed to
    ``dest``; a mismatching one is deleted and reported, and an existing good ``dest`` is
    never touched. ``sha256=None`` (a card without a checksum yet) skips that check.
    """
    import requests  # here, not at the top: every kernel that loads a dataset imports this module

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = requests.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as err:
        raise DownloadError(f"{url}: cannot connect ({err.__class__.__name__}); "
                            "offline? generate the data instead: hepcourse data generate") from None
    with response:
        if response.status_code == 416 and have:  # asked past the end: the part file is complete
            pass
        elif response.status_code not in (200, 206):
            raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
        else:
            if response.status_code == 200:
                have = 0  # the server ignored the Range header: start over
            total = have + int(response.headers.get("Content-Length", 0)) or size
            mode = "ab" if have else "wb"
            with open(part, mode) as fh, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                               desc=dest.name, disable=not progress) as bar:
                try:
                    for block in response.iter_content(CHUNK):
                        fh.write(block)
                        bar.update(len(block))
                except requests.RequestException as err:
                    raise DownloadError(f"{url}: connection lost after {fh.tell()} bytes "
                                        f"({err.__class__.__name__}); run again to resume") from None
    got = part.stat().st_size
    if size is not None and got != size:
        if got > size:
            part.unlink()
        raise DownloadError(f"{url}: got {got} bytes, expected {size}"
                            + ("; run again to resume" if got < size else "; the partial file was removed"))
    if sha256 is not None:
        actual = sha256_of(part)
        if actual != sha256:
            part.unlink()
            raise DownloadError(f"{url}: sha256 mismatch (expected {sha256}, got {actual}); "
                                "the file was discarded")
    os.replace(part, dest)
    return dest
