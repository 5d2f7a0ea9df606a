"""cosmosctl.media: content parts, MIME sniffing, fps hoisting and request limits."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cosmosctl.errors import CosmosError
from cosmosctl.media import check_limits, count_parts, image_part, prepare_messages, video_part


def _decoded(url: str, mime: str) -> bytes:
    prefix = f"data:{mime};base64,"
    assert url.startswith(prefix)
    return base64.b64decode(url[len(prefix) :])


def test_png_becomes_png_data_uri(png_file: Path) -> None:
    part = image_part(str(png_file))
    assert part["type"] == "image_url"
    assert _decoded(part["image_url"]["url"], "image/png") == png_file.read_bytes()


def test_mime_comes_from_bytes_not_suffix(jpeg_file: Path, tmp_path: Path) -> None:
    misnamed = tmp_path / "photo.png"
    misnamed.write_bytes(jpeg_file.read_bytes())
    assert image_part(str(misnamed))["image_url"]["url"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize(
    "url", ["https://example.com/sink.jpg", "http://10.0.0.1/a.png", "data:image/png;base64,AAAA"]
)
def test_urls_pass_through(url: str) -> None:
    assert image_part(url) == {"type": "image_url", "image_url": {"url": url}}


def test_missing_image(tmp_path: Path) -> None:
    with pytest.raises(CosmosError, match="Image file not found"):
        image_part(str(tmp_path / "nope.jpg"))


def test_unsupported_image(tmp_path: Path) -> None:
    doc = tmp_path / "notes.txt"
    doc.write_text("not an image")
    with pytest.raises(CosmosError, match="Unsupported image type") as info:
        image_part(str(doc))
    assert info.value.hint and "jpeg" in info.value.hint


def test_empty_image(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(CosmosError, match="empty"):
        image_part(str(empty))


def test_other_url_scheme_rejected() -> None:
    with pytest.raises(CosmosError, match="scheme 'ftp'"):
        image_part("ftp://example.com/a.png")


def test_video_part_and_fps_hoisting(mp4_file: Path) -> None:
    part = video_part(str(mp4_file), fps=2)
    assert part["type"] == "video_url"
    assert _decoded(part["video_url"]["url"], "video/mp4") == mp4_file.read_bytes()
    messages = [{"role": "user", "content": [part, {"type": "text", "text": "what happens?"}]}]
    clean, extra = prepare_messages(messages)
    assert extra == {"media_io_kwargs": {"video": {"fps": 2.0}}}
    assert set(clean[0]["content"][0]) == {"type", "video_url"}
    assert "media_io_kwargs" in messages[0]["content"][0], "the caller's messages are not mutated"


def test_video_without_fps_adds_nothing(mp4_file: Path) -> None:
    clean, extra = prepare_messages([{"role": "user", "content": [video_part(str(mp4_file))]}])
    assert extra == {}
    assert clean[0]["content"][0]["type"] == "video_url"


def test_video_must_be_mp4(tmp_path: Path, png_file: Path) -> None:
    with pytest.raises(CosmosError, match="not an MP4"):
        video_part(str(png_file))
    with pytest.raises(CosmosError, match="local MP4"):
        video_part("https://example.com/clip.mp4")
    with pytest.raises(CosmosError, match="not found"):
        video_part(str(tmp_path / "missing.mp4"))


@pytest.mark.parametrize("fps", [0, -1.5])
def test_bad_fps(mp4_file: Path, fps: float) -> None:
    with pytest.raises(CosmosError, match="positive"):
        video_part(str(mp4_file), fps=fps)


def test_limits(png_file: Path) -> None:
    parts = [image_part(str(png_file)) for _ in range(3)]
    messages = [{"role": "user", "content": [*parts, {"type": "text", "text": "compare"}]}]
    assert count_parts(messages, "image_url") == 3
    check_limits(messages, max_images=3, max_payload_mib=1)
    with pytest.raises(CosmosError, match="Too many images: 3 given, the server allows 2") as info:
        check_limits(messages, max_images=2, max_payload_mib=None)
    assert "NIM_MAX_IMAGES_PER_PROMPT" in (info.value.hint or "")
    with pytest.raises(CosmosError, match="Request too large"):
        check_limits(messages, max_images=None, max_payload_mib=0.0001)
