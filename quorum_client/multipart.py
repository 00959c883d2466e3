"""A multipart/form-data body that streams its file from disk.

requests' own `files=` builds the whole body in memory, which a 200 MB upload should not
do. `MultipartFile` is a file-like object with a known length: requests sends it with a
Content-Length (a Django server cannot read chunked request bodies) and urllib3 reads it
block by block.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from collections.abc import Callable
from typing import BinaryIO

Progress = Callable[[int, int], None]  # (bytes sent, total bytes)


def _quote(value: str) -> str:
    # As browsers (and urllib3's HTML5 style) escape a Content-Disposition parameter.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def content_type(filename: str) -> str:
    if filename.lower().endswith(".parquet"):
        return "application/vnd.apache.parquet"
    guessed, encoding = mimetypes.guess_type(filename)
    if encoding == "gzip":
        return "application/gzip"
    return guessed or "application/octet-stream"


class MultipartFile:
    """Form fields, then one file part, read lazily; `len()` is the exact body size."""

    def __init__(
        self,
        fields: dict[str, str],
        *,
        file_field: str,
        file: BinaryIO,
        filename: str,
        on_progress: Progress | None = None,
    ):
        self.boundary = f"quorum-{uuid.uuid4().hex}"
        head = b"".join(
            self._part_header(name, None) + str(value).encode() + b"\r\n"
            for name, value in fields.items()
        )
        head += self._part_header(file_field, filename)
        self._head, self._tail = head, f"\r\n--{self.boundary}--\r\n".encode()
        self._file = file
        self._file_size = os.fstat(file.fileno()).st_size - file.tell()
        self._length = len(self._head) + self._file_size + len(self._tail)
        self._sent = 0
        self._on_progress = on_progress

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _part_header(self, name: str, filename: str | None) -> bytes:
        disposition = f'form-data; name="{_quote(name)}"'
        lines = [f"--{self.boundary}"]
        if filename is None:
            lines.append(f"Content-Disposition: {disposition}")
        else:
            lines.append(f'Content-Disposition: {disposition}; filename="{_quote(filename)}"')
            lines.append(f"Content-Type: {content_type(filename)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of the body (all the rest if size < 0)."""
        if size is None or size < 0:
            size = self._length - self._sent
        chunks, wanted = [], size
        while wanted > 0 and self._sent < self._length:
            chunk = self._read_at(self._sent, wanted)
            if not chunk:
                raise OSError("The file got shorter while it was being uploaded.")
            chunks.append(chunk)
            self._sent += len(chunk)
            wanted -= len(chunk)
        if chunks and self._on_progress is not None:
            self._on_progress(self._sent, self._length)
        return b"".join(chunks)

    def _read_at(self, position: int, size: int) -> bytes:
        head, file_end = len(self._head), len(self._head) + self._file_size
        if position < head:
            return self._head[position : position + size]
        if position < file_end:
            return self._file.read(min(size, file_end - position))
        start = position - file_end
        return self._tail[start : start + size]
