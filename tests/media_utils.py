"""Small media files built in code for the client tests (no image library needed)."""

from __future__ import annotations

import struct
import zlib


def tiny_png(width: int = 2, height: int = 2, rgb: bytes = b"\x80\x40\x20") -> bytes:
    """A valid RGB PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + rgb * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def tiny_mp4(
    width: int = 64, height: int = 48, frames: int = 30, fps: int = 30, codec: str = "libx264"
) -> bytes:
    """A real H.264 MP4 built with PyAV: frame i is a flat grey of level 8*i (so frames can be told apart)."""
    import io

    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.full((height, width, 3), (8 * i) % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def probe_mp4(data: bytes) -> dict[str, object]:
    """What a decoder sees in an MP4: codec, size, frame count, average rate and duration (s)."""
    import io

    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        times = [float(f.time or 0.0) for f in container.decode(stream)]
        return {
            "format": container.format.name,
            "codec": stream.codec_context.name,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "frames": len(times),
            "rate": float(stream.average_rate or 0),
            "span_s": round(times[-1] - times[0], 3) if times else 0.0,
        }
