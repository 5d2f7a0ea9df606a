"""cosmosctl.media: content parts, MIME sniffing, fps hoisting and request limits."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from media_utils import probe_mp4, tiny_mp4

from cosmosctl.errors import CosmosError
from cosmosctl.media import (
    check_limits,
    count_parts,
    image_part,
    prepare_messages,
    sample_video,
    video_part,
)


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


def test_server_side_sampling_hoists_nvidias_kwargs(mp4_file: Path) -> None:
    part = video_part(str(mp4_file), fps=2, server_side=True)
    assert part["type"] == "video_url"
    assert _decoded(part["video_url"]["url"], "video/mp4") == mp4_file.read_bytes()  # sent as is
    messages = [{"role": "user", "content": [part, {"type": "text", "text": "what happens?"}]}]
    clean, extra = prepare_messages(messages)
    assert extra == {"mm_processor_kwargs": {"fps": 2.0, "do_sample_frames": True}}
    assert set(clean[0]["content"][0]) == {"type", "video_url"}
    assert "mm_processor_kwargs" in messages[0]["content"][0], "the caller's messages are not mutated"


def test_server_side_sampling_needs_fps(mp4_file: Path) -> None:
    with pytest.raises(CosmosError, match="--server-side-sampling needs --fps"):
        video_part(str(mp4_file), server_side=True)


def test_client_side_fps_adds_no_request_kwargs(mp4_file: Path) -> None:
    part = video_part(str(mp4_file), fps=2)
    assert set(part) == {"type", "video_url"}
    _, extra = prepare_messages([{"role": "user", "content": [part]}])
    assert extra == {}
    # 1 s at 30 fps sampled at 2 fps: frames at 0 and 0.5 s, size kept (already small).
    sent = probe_mp4(_decoded(part["video_url"]["url"], "video/mp4"))
    assert (sent["frames"], sent["rate"], sent["size"], sent["codec"]) == (2, 2.0, (64, 48), "h264")


def test_video_that_needs_nothing_is_sent_unchanged(mp4_file: Path) -> None:
    part = video_part(str(mp4_file))
    assert _decoded(part["video_url"]["url"], "video/mp4") == mp4_file.read_bytes()


def test_sampling_keeps_the_right_frames() -> None:
    # Source frame i is grey level 8*i at 30 fps; at 5 fps frame k is source frame 6k.
    sent = sample_video(tiny_mp4(width=64, height=48, frames=30, fps=30), fps=5)
    assert probe_mp4(sent)["frames"] == 5
    levels = [round(float(np.asarray(f.to_ndarray(format="gray")).mean())) for f in _frames(sent)]
    assert all(abs(level - 48 * k) <= 4 for k, level in enumerate(levels)), levels


def test_frame_cap_and_side_cap() -> None:
    src = tiny_mp4(width=320, height=180, frames=60, fps=30)
    capped = probe_mp4(sample_video(src, fps=30, max_frames=10, max_side=160))
    assert (capped["frames"], capped["size"], capped["rate"]) == (10, (160, 90), 30.0)
    # Without --fps a video over the cap is thinned evenly: 60 frames -> 20 at 10 fps, same span.
    thinned = probe_mp4(sample_video(src, max_frames=20))
    assert (thinned["frames"], thinned["rate"], thinned["size"]) == (20, 10.0, (320, 180))


def test_undecodable_video_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64)
    with pytest.raises(CosmosError, match="Could not decode the video") as info:
        video_part(str(fake), fps=2)
    assert info.value.hint and "ffmpeg" in info.value.hint


def _frames(data: bytes) -> list:
    import io

    import av

    with av.open(io.BytesIO(data)) as container:
        return list(container.decode(video=0))


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
