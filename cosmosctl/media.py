"""Turn local images/videos and URLs into OpenAI chat content parts the Cosmos reasoner NIM accepts.

Images become ``image_url`` parts (a ``data:`` URI with the MIME type sniffed from the file's bytes,
or an http(s) URL passed through); videos become ``video_url`` parts with a
``data:video/mp4;base64,...`` URI.

Videos are sampled here, in the client: decoded with PyAV, frames kept at the requested rate (``--fps``)
and at most ``max_frames`` of them, scaled down so the longer side is at most ``max_side`` pixels, and
re-encoded as H.264 MP4 (which also shrinks the upload). The NIM is vLLM-based, and vLLM 0.31 and later
refuse per-request ``media_io_kwargs`` and ``mm_processor_kwargs`` with HTTP 400 unless the server was
started with ``--trust-request-mm-kwargs`` (vLLM v0.31.0 release notes,
https://github.com/vllm-project/vllm/releases/tag/v0.31.0; the flag reaches the OpenAI server's
renderer as ``trust_request_mm_kwargs`` in vllm/entrypoints), and we cannot know which vLLM a NIM
ships. So the default request carries no sampling kwargs at all. The form NVIDIA's reasoner guide
documents, ``mm_processor_kwargs: {"fps": N, "do_sample_frames": true}``, is sent only with
``server_side=True`` (``--server-side-sampling``): :func:`video_part` marks the part and
:func:`prepare_messages` hoists the mark into the request's ``extra_body``.
"""

from __future__ import annotations

import base64
import copy
import io
import math
from fractions import Fraction
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

# Key that video_part() puts on a part to carry server-side sampling kwargs until prepare_messages()
# hoists them to the top level of the request (where vLLM reads them).
MM_PROCESSOR_KEY = "mm_processor_kwargs"

# Client-side sampling defaults. The frame cap keeps a long clip from becoming thousands of vision
# tokens (30 s at 4 fps); the side cap is 480p-class (854 px wide at 16:9), the resolution NVIDIA's
# Cosmos examples work at; the NIM's vision processor resizes frames itself, so more pixels only cost
# upload time. Raise both with --max-frames / --max-video-side.
DEFAULT_MAX_FRAMES = 120
DEFAULT_MAX_SIDE = 854
# H.264 quality (lower is better); 23 is x264's own default.
_CRF = "23"


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


def video_part(
    path: str,
    fps: float | None = None,
    *,
    server_side: bool = False,
    max_frames: int = DEFAULT_MAX_FRAMES,
    max_side: int = DEFAULT_MAX_SIDE,
) -> dict[str, Any]:
    """An OpenAI ``video_url`` content part (``data:video/mp4;base64,...``) for a local MP4 file.

    By default the video is sampled here (see :func:`sample_video`) and the part carries nothing else,
    which every vLLM accepts. With ``server_side=True`` the original file is sent and the part carries
    ``mm_processor_kwargs`` ``{"fps": fps, "do_sample_frames": True}`` for the request; pass the
    messages through :func:`prepare_messages` (``cosmosctl.client.chat_completion`` does) to move it
    where vLLM reads it. A vLLM >= 0.31 answers that with 400 unless started with
    ``--trust-request-mm-kwargs``.
    """
    if fps is not None and not fps > 0:
        raise CosmosError(f"--fps must be a positive number, got {fps}.")
    if server_side and fps is None:
        raise CosmosError(
            "--server-side-sampling needs --fps (the rate the server samples at).",
            "Pass e.g. --fps 4, or drop --server-side-sampling to sample in the client.",
        )
    if max_frames < 1:
        raise CosmosError(f"--max-frames must be at least 1, got {max_frames}.")
    if max_side < 16:
        raise CosmosError(f"--max-video-side must be at least 16 pixels, got {max_side}.")
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
    if server_side:
        part: dict[str, Any] = {"type": "video_url", "video_url": {"url": _data_uri("video/mp4", data)}}
        part[MM_PROCESSOR_KEY] = {"fps": float(fps or 0.0), "do_sample_frames": True}
        return part
    sampled = sample_video(data, fps=fps, max_frames=max_frames, max_side=max_side, name=path)
    return {"type": "video_url", "video_url": {"url": _data_uri("video/mp4", sampled)}}


def _even(value: float) -> int:
    # H.264 in 4:2:0 needs even dimensions.
    return max(2, int(value) // 2 * 2)


def sample_video(
    data: bytes,
    *,
    fps: float | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
    max_side: int = DEFAULT_MAX_SIDE,
    name: str = "video",
) -> bytes:
    """Decode ``data`` (an MP4), keep frames at ``fps`` (at most ``max_frames``), scale the longer side
    down to ``max_side`` and re-encode as H.264 MP4 at the kept rate.

    Without ``fps`` the video keeps its own rate unless it has more than ``max_frames`` frames, then
    frames are kept evenly (a lower rate). A video that needs none of this is returned unchanged.
    """
    import av  # PyAV: FFmpeg's decoders and libx264, as wheels

    hint = "Convert it first, e.g. ffmpeg -i input -c:v libx264 output.mp4"
    try:
        # Pass 1 reads only packet timestamps (no decoding): how many frames, over how long.
        with av.open(io.BytesIO(data), mode="r") as src:
            if not src.streams.video:
                raise CosmosError(f"The video {name} has no video stream.", hint)
            stream = src.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            base = stream.time_base or Fraction(1, 90_000)  # MP4 streams always carry one
            times = sorted(float(p.pts * base) for p in src.demux(stream) if p.pts is not None and p.size)
    except av.error.FFmpegError as exc:
        raise CosmosError(f"Could not decode the video {name}: {exc.strerror or exc}.", hint) from exc
    if not times or not width or not height:
        raise CosmosError(f"The video {name} has no frames.", hint)
    start, duration = times[0], times[-1] - times[0]
    native = (len(times) - 1) / duration if duration > 0 else 1.0
    rate = fps if fps is not None else native
    if fps is None and len(times) > max_frames:
        rate = native * max_frames / len(times)
    scale = min(1.0, max_side / max(width, height))
    out_w, out_h = _even(width * scale), _even(height * scale)
    if fps is None and len(times) <= max_frames and scale == 1.0:
        return data  # nothing to sample or shrink: send the file as it is

    # One frame per 1/rate seconds: the latest frame at or before each sampling instant.
    picks: list[int] = []
    index = 0
    for k in range(min(max_frames, math.floor(duration * rate + 1e-6) + 1)):
        instant = start + k / rate
        while index + 1 < len(times) and times[index + 1] <= instant + 1e-6:
            index += 1
        picks.append(index)

    if "libx264" not in av.codecs_available:
        raise CosmosError(
            "This PyAV build has no H.264 encoder (libx264) to re-encode the sampled video.",
            "pip install --upgrade av (its wheels carry libx264), or pass --server-side-sampling.",
        )
    # Pass 2 decodes in presentation order and encodes the picked frames as they come (one frame
    # in memory at a time, however long the video).
    out = io.BytesIO()
    out_rate = Fraction(rate).limit_denominator(1001)
    try:
        with av.open(io.BytesIO(data), mode="r") as src, av.open(out, mode="w", format="mp4") as dst:
            encoder = dst.add_stream("libx264", rate=out_rate, options={"crf": _CRF, "preset": "veryfast"})
            encoder.width, encoder.height, encoder.pix_fmt = out_w, out_h, "yuv420p"
            encoder.codec_context.time_base = 1 / out_rate
            written = 0
            for position, frame in enumerate(src.decode(src.streams.video[0])):
                while written < len(picks) and picks[written] == position:
                    scaled = frame.reformat(width=out_w, height=out_h, format="yuv420p")
                    scaled.pts, scaled.time_base = written, encoder.codec_context.time_base
                    for packet in encoder.encode(scaled):
                        dst.mux(packet)
                    written += 1
                if written == len(picks):
                    break
            for packet in encoder.encode():
                dst.mux(packet)
    except av.error.FFmpegError as exc:
        raise CosmosError(f"Could not re-encode the video {name}: {exc.strerror or exc}.", hint) from exc
    return out.getvalue()


def prepare_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Split per-part markers out of ``messages``: returns (clean messages, extra request body).

    Parts built by :func:`video_part` with ``server_side=True`` carry ``mm_processor_kwargs``; vLLM
    reads that field at the top level of the chat completion request, so it is removed from the part
    and merged into the returned ``extra_body``.
    """
    clean = copy.deepcopy(messages)
    merged: dict[str, Any] = {}
    for message in clean:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and MM_PROCESSOR_KEY in part:
                merged.update(part.pop(MM_PROCESSOR_KEY))
    return clean, ({MM_PROCESSOR_KEY: merged} if merged else {})


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
