"""Turn local images/videos and URLs into OpenAI chat content parts the Cosmos reasoner NIM accepts.

Images become ``image_url`` parts (a ``data:`` URI with the MIME type sniffed from the file's bytes,
or an http(s) URL passed through); videos become ``video_url`` parts with a
``data:video/mp4;base64,...`` URI. The NIM is vLLM-based: a per-request video sampling rate goes in
the request body's top-level ``media_io_kwargs`` (``{"video": {"fps": N}}``), not in the part, so
``video_part(..., fps=N)`` marks the part and :func:`prepare_messages` hoists the mark into the
request's ``extra_body`` before sending.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cosmosctl.errors import CosmosError

# MIME types the NIM's image loader (PIL) reads and that we can recognise from magic bytes.
IMAGE_TYPES: dict[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
}
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")

# Key that video_part() puts on a part to carry its fps until prepare_messages() hoists it.
_MEDIA_IO_KEY = "media_io_kwargs"


def _sniff_image_mime(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head.startswith(b"BM"):
        return "image/bmp"
    return None


def _is_mp4_family(head: bytes) -> bool:
    # ISO base media files (MP4, M4V, QuickTime) start with a box whose type is 'ftyp'.
    return head[4:8] == b"ftyp"


def _read_file(path: str, kind: str) -> bytes:
    p = Path(path).expanduser()
    if not p.exists():
        raise CosmosError(f"{kind} file not found: {path}", "Check the path, or pass an http(s) URL.")
    if not p.is_file():
        raise CosmosError(f"{kind} path is not a file: {path}")
    data = p.read_bytes()
    if not data:
        raise CosmosError(f"{kind} file is empty: {path}")
    return data


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_part(path_or_url: str) -> dict[str, Any]:
    """An OpenAI ``image_url`` content part for a local image file or an http(s)/data URL."""
    scheme = urlparse(path_or_url).scheme.lower()
    if scheme in ("http", "https"):
        return {"type": "image_url", "image_url": {"url": path_or_url}}
    if scheme == "data":
        if not path_or_url.lower().startswith("data:image/"):
            raise CosmosError("Only data:image/... URIs can be sent as images.")
        return {"type": "image_url", "image_url": {"url": path_or_url}}
    if scheme and len(scheme) > 1:  # a one-letter scheme is a Windows drive, not a URL
        raise CosmosError(
            f"Unsupported image URL scheme '{scheme}': {path_or_url}",
            "Use a local file, an http(s) URL or a data: URI.",
        )
    data = _read_file(path_or_url, "Image")
    mime = _sniff_image_mime(data[:16])
    if mime is None:
        suffix = Path(path_or_url).suffix.lower()
        supported = ", ".join(sorted({s.lstrip(".") for s in IMAGE_TYPES}))
        what = f"'{suffix}' file" if suffix else "file"
        raise CosmosError(
            f"Unsupported image type: {path_or_url} is not a recognised image {what}.",
            f"Supported image formats: {supported}.",
        )
    return {"type": "image_url", "image_url": {"url": _data_uri(mime, data)}}


def video_part(path: str, fps: float | None = None) -> dict[str, Any]:
    """An OpenAI ``video_url`` content part (``data:video/mp4;base64,...``) for a local MP4 file.

    With ``fps`` the part also carries ``media_io_kwargs`` for the request; pass the messages
    through :func:`prepare_messages` (``cosmosctl.client.chat`` does) to move it where vLLM reads it.
    """
    if fps is not None and not fps > 0:
        raise CosmosError(f"--fps must be a positive number, got {fps}.")
    scheme = urlparse(path).scheme.lower()
    if scheme in ("http", "https", "data", "s3"):
        raise CosmosError(
            f"Videos must be local MP4 files, got a URL: {path}",
            "Download the video first; it is sent inline as data:video/mp4;base64.",
        )
    data = _read_file(path, "Video")
    if not _is_mp4_family(data[:16]):
        raise CosmosError(
            f"Unsupported video type: {path} is not an MP4 file.",
            "Convert it first, e.g. ffmpeg -i input -c:v libx264 output.mp4",
        )
    part: dict[str, Any] = {"type": "video_url", "video_url": {"url": _data_uri("video/mp4", data)}}
    if fps is not None:
        part[_MEDIA_IO_KEY] = {"video": {"fps": float(fps)}}
    return part


def media_io_kwargs(fps: float | None) -> dict[str, Any] | None:
    """The request-level ``media_io_kwargs`` value for a video sampling rate (None when unset)."""
    return {"video": {"fps": float(fps)}} if fps is not None else None


def prepare_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Split per-part markers out of ``messages``: returns (clean messages, extra request body).

    Parts built by :func:`video_part` with an fps carry ``media_io_kwargs``; vLLM reads that field
    at the top level of the chat completion request, so it is removed from the part and merged
    into the returned ``extra_body``.
    """
    clean = copy.deepcopy(messages)
    merged: dict[str, dict[str, Any]] = {}
    for message in clean:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and _MEDIA_IO_KEY in part:
                for modality, kwargs in part.pop(_MEDIA_IO_KEY).items():
                    merged.setdefault(modality, {}).update(kwargs)
    return clean, ({_MEDIA_IO_KEY: merged} if merged else {})


def count_parts(messages: list[dict[str, Any]], part_type: str) -> int:
    """How many content parts of ``part_type`` ('image_url', 'video_url') the messages hold."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            total += sum(1 for p in content if isinstance(p, dict) and p.get("type") == part_type)
    return total


def payload_bytes(messages: list[dict[str, Any]]) -> int:
    """Approximate request size: the UTF-8 length of every string in the messages."""

    def walk(value: Any) -> int:
        if isinstance(value, str):
            return len(value.encode("utf-8"))
        if isinstance(value, dict):
            return sum(walk(k) + walk(v) for k, v in value.items())
        if isinstance(value, list):
            return sum(walk(v) for v in value)
        return 8

    return walk(messages)


def check_limits(
    messages: list[dict[str, Any]], *, max_images: int | None, max_payload_mib: float | None
) -> None:
    """Raise CosmosError when a request has more images than allowed or is over the size limit."""
    if max_images is not None:
        n = count_parts(messages, "image_url")
        if n > max_images:
            raise CosmosError(
                f"Too many images: {n} given, the server allows {max_images} per prompt.",
                "Send fewer images, or raise NIM_MAX_IMAGES_PER_PROMPT on the server and pass --max-images.",
            )
    if max_payload_mib is not None:
        size = payload_bytes(messages)
        limit = int(max_payload_mib * 1024 * 1024)
        if size > limit:
            raise CosmosError(
                f"Request too large: {size / 2**20:.1f} MiB after base64 encoding, "
                f"limit {max_payload_mib:g} MiB.",
                "Downscale the image(s), trim the video, "
                "or raise --max-payload-mib if your endpoint allows it.",
            )
