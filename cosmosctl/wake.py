"""Asking a sleeping endpoint: say it is waking, and with --wait retry until it answers.

A scale-to-zero reasoner (idleMinutes) has no target while asleep, so the load balancer answers
503 itself; that request is what wakes it (docs/deploy-reasoner.md, "Scale to zero"). While the
task starts the load balancer answers 503 (no target yet) or 502 (the NIM not listening yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import openai

from cosmosctl.console import err
from cosmosctl.errors import CosmosError

T = TypeVar("T")

WAKING_STATUSES = (502, 503)
# Seconds between attempts while waiting; each attempt is also a request the wake alarm counts.
RETRY_S = 20.0
DEFAULT_WAIT_MIN = 30.0
# Phases on paper in docs/deploy-reasoner.md ("Scale to zero"): ~8 (6-14) minutes from the warm
# pool with the weights on EFS, ~14 (10-21) on a cold host.
EXPECTED_WAKE = "about 8 minutes (6-14) from the warm pool, up to ~21 on a cold host"


def waking_status(exc: BaseException) -> int | None:
    """The 502/503 status behind ``exc`` (a CosmosError raised from an OpenAI status error), if any."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, openai.APIStatusError) and cause.status_code in WAKING_STATUSES:
            return cause.status_code
        cause = cause.__cause__
    return None


def asleep_error(status: int) -> CosmosError:
    return CosmosError(
        f"The endpoint has no ready task ({status} from the load balancer): it is asleep or still starting. "
        "A scale-to-zero endpoint (idleMinutes) wakes on this request.",
        f"Ready in {EXPECTED_WAKE}: ask again with --wait to wait and retry, or run `cosmosctl endpoint up` "
        "to follow the wake; `cosmosctl endpoint status` shows where it is.",
    )


def call_waking(
    call: Callable[[], T],
    *,
    wait: bool,
    wait_s: float = DEFAULT_WAIT_MIN * 60,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``; on a 502/503 say the endpoint is waking, and with ``wait`` retry every RETRY_S seconds."""
    started = time.monotonic()
    announced = False
    while True:
        try:
            return call()
        except CosmosError as exc:
            status = waking_status(exc)
            if status is None:
                raise
            if not wait:
                raise asleep_error(status) from exc
            waited = time.monotonic() - started
            if waited >= wait_s:
                raise CosmosError(
                    f"The endpoint did not wake within {wait_s / 60:.0f} minutes (last answer {status}).",
                    "See `cosmosctl endpoint status` and the NIM logs (stack output LogGroupName).",
                ) from exc
            if not announced:
                err.print(
                    f"[yellow]The endpoint is waking[/] ({status}); expected {EXPECTED_WAKE}. Waiting..."
                )
                announced = True
            else:
                err.print(f"  still waking after {waited / 60:.1f} min ({status})")
            sleep(RETRY_S)
