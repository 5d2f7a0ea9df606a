"""`cosmosctl ask`: one question, optionally about images or a video, to the reasoner NIM."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from cosmosctl import client as cclient
from cosmosctl.aws import REASONER_STACK
from cosmosctl.console import err, handle_errors, out, print_json
from cosmosctl.endpoint import resolve_endpoint
from cosmosctl.errors import CosmosError
from cosmosctl.media import DEFAULT_MAX_FRAMES, DEFAULT_MAX_SIDE, check_limits, image_part, video_part
from cosmosctl.options import (
    ApiKeyOpt,
    EndpointOpt,
    MaxFramesOpt,
    MaxVideoSideOpt,
    RegionOpt,
    ServerSideSamplingOpt,
    StackOpt,
    VideoFpsOpt,
)
from cosmosctl.wake import DEFAULT_WAIT_MIN, call_waking

# Client-side mirror of the NIM's NIM_MAX_IMAGES_PER_PROMPT; raise both together.
DEFAULT_MAX_IMAGES = 4
# Base64 inflates files by 4/3: 20 MiB of request is about 15 MiB of media. The NIM's own limits
# are larger; this keeps a typo'd 2 GB video from being encoded and uploaded.
DEFAULT_MAX_PAYLOAD_MIB = 20.0
DEFAULT_MAX_TOKENS = 1024


def build_messages(
    question: str,
    images: list[str] | None = None,
    video: str | None = None,
    fps: float | None = None,
    system: str | None = None,
    *,
    server_side_sampling: bool = False,
    max_frames: int = DEFAULT_MAX_FRAMES,
    max_video_side: int = DEFAULT_MAX_SIDE,
) -> list[dict[str, Any]]:
    """Chat messages for one question: media parts first, then the text (as NVIDIA's examples do).

    A video is sampled in the client (``--fps``, ``--max-frames``, ``--max-video-side``) unless
    ``server_side_sampling`` asks the NIM to do it (see ``cosmosctl.media.video_part``).
    """
    if not question or not question.strip():
        raise CosmosError(
            "The question is empty.", 'Ask something, e.g. cosmosctl ask "What is in this image?"'
        )
    if fps is not None and video is None:
        raise CosmosError("--fps applies to a --video, but no video was given.")
    if server_side_sampling and video is None:
        raise CosmosError("--server-side-sampling applies to a --video, but no video was given.")
    parts: list[dict[str, Any]] = [image_part(i) for i in images or []]
    if video is not None:
        parts.append(
            video_part(
                video, fps, server_side=server_side_sampling, max_frames=max_frames, max_side=max_video_side
            )
        )
    parts.append({"type": "text", "text": question})
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": parts})
    return messages


def ask_command(
    question: Annotated[str, typer.Argument(help="The question to ask.", show_default=False)],
    endpoint: EndpointOpt = None,
    api_key: ApiKeyOpt = None,
    image: Annotated[
        list[str] | None, typer.Option("--image", "-i", help="Image file or http(s) URL; repeat for several.")
    ] = None,
    video: Annotated[str | None, typer.Option("--video", "-v", help="MP4 video file.")] = None,
    fps: VideoFpsOpt = None,
    max_frames: MaxFramesOpt = DEFAULT_MAX_FRAMES,
    max_video_side: MaxVideoSideOpt = DEFAULT_MAX_SIDE,
    server_side_sampling: ServerSideSamplingOpt = False,
    model: Annotated[
        str | None, typer.Option(help="Model id (default: the one GET /v1/models serves).")
    ] = None,
    system: Annotated[str | None, typer.Option(help="Optional system prompt.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens to generate.")] = DEFAULT_MAX_TOKENS,
    temperature: Annotated[
        float | None, typer.Option(min=0.0, help="Sampling temperature (server default if unset).")
    ] = None,
    stream: Annotated[
        bool | None,
        typer.Option("--stream/--no-stream", help="Stream tokens (default: on when stdout is a terminal)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the answer, model and usage as JSON.")
    ] = False,
    max_images: Annotated[
        int, typer.Option(min=0, help="Most images per prompt; match the server's NIM_MAX_IMAGES_PER_PROMPT.")
    ] = DEFAULT_MAX_IMAGES,
    max_payload_mib: Annotated[
        float, typer.Option(min=0.0, help="Refuse requests larger than this after base64 encoding (MiB).")
    ] = DEFAULT_MAX_PAYLOAD_MIB,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for an answer.")
    ] = cclient.DEFAULT_TIMEOUT_S,
    max_retries: Annotated[
        int, typer.Option(min=0, help="Retries (with backoff) on connection errors, 429 and 5xx.")
    ] = cclient.DEFAULT_MAX_RETRIES,
    stack: StackOpt = REASONER_STACK,
    region: RegionOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="If the endpoint is asleep (503), wait for it to wake and retry.")
    ] = False,
    wait_minutes: Annotated[
        float, typer.Option(min=1.0, help="Most minutes --wait waits for a wake.")
    ] = DEFAULT_WAIT_MIN,
) -> None:
    """Ask the Cosmos reasoner a question, optionally about images (--image) or a video (--video)."""
    _ask(
        question=question, endpoint=endpoint, api_key=api_key, images=image or [], video=video, fps=fps,
        max_frames=max_frames, max_video_side=max_video_side, server_side_sampling=server_side_sampling,
        model=model, system=system, max_tokens=max_tokens, temperature=temperature, stream=stream,
        as_json=as_json, max_images=max_images, max_payload_mib=max_payload_mib, timeout=timeout,
        max_retries=max_retries, stack=stack, region=region, wait=wait, wait_minutes=wait_minutes,
    )  # fmt: skip


@handle_errors
def _ask(
    *,
    question: str,
    endpoint: str | None,
    api_key: str | None,
    images: list[str],
    video: str | None,
    fps: float | None,
    max_frames: int,
    max_video_side: int,
    server_side_sampling: bool,
    model: str | None,
    system: str | None,
    max_tokens: int,
    temperature: float | None,
    stream: bool | None,
    as_json: bool,
    max_images: int,
    max_payload_mib: float,
    timeout: float,
    max_retries: int,
    stack: str,
    region: str | None,
    wait: bool = False,
    wait_minutes: float = DEFAULT_WAIT_MIN,
) -> None:
    # Check every input before touching the network or AWS.
    messages = build_messages(
        question, images, video, fps, system, server_side_sampling=server_side_sampling,
        max_frames=max_frames, max_video_side=max_video_side,
    )  # fmt: skip
    check_limits(messages, max_images=max_images, max_payload_mib=max_payload_mib)
    url, key = resolve_endpoint(endpoint, api_key, stack, region)
    oai = cclient.make_client(url, key, timeout=timeout, max_retries=max_retries)
    # The first request: a sleeping endpoint answers 503 here (and wakes).
    model_id = call_waking(lambda: cclient.pick_model(oai, model), wait=wait, wait_s=wait_minutes * 60)
    if stream is None:
        stream = sys.stdout.isatty() and not as_json

    started = time.perf_counter()
    if stream:
        answer, usage, finish, ttft = _stream_answer(
            oai, model_id, messages, max_tokens, temperature, echo=not as_json
        )
    else:
        response = cclient.chat_completion(
            oai, model_id, messages, max_tokens=max_tokens, temperature=temperature, stream=False
        )
        choice = response.choices[0] if response.choices else None
        answer = (choice.message.content or "") if choice else ""
        finish = choice.finish_reason if choice else None
        usage = response.usage.model_dump() if response.usage else None
        ttft = None
        if not as_json:
            out.print(answer, markup=False, highlight=False)
    elapsed = time.perf_counter() - started

    if as_json:
        print_json(
            {
                "model": model_id,
                "answer": answer,
                "finish_reason": finish,
                "usage": usage,
                "latency_s": round(elapsed, 3),
                "time_to_first_token_s": None if ttft is None else round(ttft, 3),
            }
        )
    elif finish == "length":
        err.print(f"[yellow]The answer was cut at --max-tokens {max_tokens}.[/]")


def _stream_answer(
    oai: Any,
    model_id: str,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float | None,
    *,
    echo: bool,
) -> tuple[str, dict[str, Any] | None, str | None, float | None]:
    started = time.perf_counter()
    chunks: list[str] = []
    usage: dict[str, Any] | None = None
    finish: str | None = None
    ttft: float | None = None
    for chunk in cclient.chat_completion(
        oai, model_id, messages, max_tokens=max_tokens, temperature=temperature, stream=True
    ):
        if chunk.usage is not None:
            usage = chunk.usage.model_dump()
        for choice in chunk.choices:
            text = choice.delta.content if choice.delta else None
            if text:
                if ttft is None:
                    ttft = time.perf_counter() - started
                chunks.append(text)
                if echo:
                    sys.stdout.write(text)
                    sys.stdout.flush()
            if choice.finish_reason:
                finish = choice.finish_reason
    if echo:
        sys.stdout.write("\n")
        sys.stdout.flush()
    return "".join(chunks), usage, finish, ttft
