"""Model weights from the cheapest fast source: the host's cache, then the S3 mirror, then the Hub.

Each repository a job needs (the model, and the guardrail's when the safety checker is on) comes
from the first of these that holds a complete copy at the pinned revision:

1. ``local``: the host-local Hugging Face cache (``HF_HOME`` under ``WEIGHTS_DIR``, shared by every
   job on the instance) with our completeness marker. No network at all: the job then loads with
   ``HF_HUB_OFFLINE=1``.
2. ``s3``: the account's mirror under ``WEIGHTS_S3_URI`` (``<repo>/<revision>/manifest.json``,
   written last, plus one object per file of the snapshot). Files are copied in parallel into the
   host cache (S3 GETs are billed per request and per GB out of the region only: same-region
   transfer is free, https://aws.amazon.com/s3/pricing/), then loaded offline.
3. ``hub``: Hugging Face (``HF_TOKEN``), into the host cache; then the snapshot is uploaded to the
   mirror so that later hosts skip the Hub.

The Hugging Face cache keeps files in ``blobs/`` and links them from ``snapshots/<commit>/``
(https://huggingface.co/docs/huggingface_hub/guides/manage-cache). The mirror stores each snapshot
file by its path in the snapshot (the link's target, not the link), and a restore writes regular
files into ``snapshots/<commit>/`` plus ``refs/<revision>``: ``hf_hub_download`` and
``snapshot_download`` with ``local_files_only`` resolve exactly those two (``try_to_load_from_cache``).

One job per host copies a repository; the others wait on a file lock in ``WEIGHTS_DIR`` and then
find the marker. The phase timings of each source are logged.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

MIRROR_FORMAT = 1
# The guardrail package (cosmos-guardrail 0.3.2, cosmos_guardrail/cosmos_guardrail.py) calls
# snapshot_download("nvidia/Cosmos-1.0-Guardrail", allow_patterns=[...]) for these folders, at the
# default revision, in the default cache (HF_HOME), and loads Qwen/Qwen3Guard-Gen-0.6B with
# from_pretrained (the SigLIP encoder is read from inside the guardrail snapshot).
GUARDRAIL_REPO = "nvidia/Cosmos-1.0-Guardrail"
GUARDRAIL_PATTERNS = (
    "video_content_safety_filter/*",
    "blocklist/*",
    "face_blur_filter/Resnet50_Final.pth",
)
GUARDRAIL_TEXT_REPO = "Qwen/Qwen3Guard-Gen-0.6B"
GUARDRAIL_REVISION = "main"  # what cosmos-guardrail asks for: it passes no revision
_MISSING = {"404", "NoSuchKey", "NotFound"}
_LOCK_TIMEOUT_S = 3600.0  # a 30 GiB Hub download on a slow link; the waiting job then retries
S3_FILE_CONCURRENCY = 16  # files in flight
S3_PART_CONCURRENCY = 8  # parts in flight per large file (boto3 TransferConfig.max_concurrency)


@dataclass(frozen=True)
class RepoNeed:
    """One repository at one revision that the job needs on local disk."""

    repo_id: str
    revision: str
    gated: bool = True
    allow_patterns: tuple[str, ...] | None = None

    @property
    def folder(self) -> str:
        return "models--" + self.repo_id.replace("/", "--")

    @property
    def label(self) -> str:
        return f"{self.repo_id}@{self.revision}"


@dataclass(frozen=True)
class WeightsConfig:
    """Where the host cache and the mirror are (the stack sets WEIGHTS_DIR, HF_HOME, WEIGHTS_S3_URI)."""

    hub_cache: Path
    weights_dir: Path
    s3_uri: str | None = None

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> WeightsConfig:
        weights_dir = Path(env.get("WEIGHTS_DIR") or Path.home() / ".cache" / "cosmos-weights")
        if env.get("HF_HUB_CACHE"):
            hub_cache = Path(env["HF_HUB_CACHE"])
        else:
            hf_home = env.get("HF_HOME") or (
                str(weights_dir / "hf-home")
                if env.get("WEIGHTS_DIR")
                else str(Path.home() / ".cache" / "huggingface")
            )
            hub_cache = Path(hf_home) / "hub"
        s3_uri = env.get("WEIGHTS_S3_URI") or None
        if s3_uri and not s3_uri.endswith("/"):
            s3_uri += "/"
        return cls(hub_cache=hub_cache, weights_dir=weights_dir, s3_uri=s3_uri)

    @property
    def mirror(self) -> tuple[str, str] | None:
        if not self.s3_uri or not self.s3_uri.startswith("s3://"):
            return None
        bucket, _, prefix = self.s3_uri[5:].partition("/")
        return (bucket, prefix) if bucket else None


@dataclass
class Fetched:
    """What happened to one repository: its source, commit, size and timing."""

    need: RepoNeed
    source: str  # local | s3 | hub
    commit: str
    files: int
    bytes: int
    seconds: float
    mirrored: bool | None = None  # hub only: uploaded to the S3 mirror


@dataclass
class WeightsPlan:
    """Which source each repository comes from, decided before anything is downloaded."""

    sources: dict[RepoNeed, str] = field(default_factory=dict)
    manifests: dict[RepoNeed, dict[str, Any]] = field(default_factory=dict)

    @property
    def hub_needs(self) -> list[RepoNeed]:
        return [need for need, source in self.sources.items() if source == "hub"]

    @property
    def offline(self) -> bool:
        return not self.hub_needs


def needs_for(model_id: str, revision: str, *, safety_checker: bool) -> list[RepoNeed]:
    needs = [RepoNeed(model_id, revision)]
    if safety_checker:
        needs.append(RepoNeed(GUARDRAIL_REPO, GUARDRAIL_REVISION, allow_patterns=GUARDRAIL_PATTERNS))
        needs.append(RepoNeed(GUARDRAIL_TEXT_REPO, GUARDRAIL_REVISION, gated=False))
    return needs


def set_offline() -> None:
    """Load from the host cache only (also for the guardrail's own snapshot_download calls).

    huggingface_hub reads HF_HUB_OFFLINE once, at import (constants.py): set the module's value
    too when it is already imported.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True


class WeightsCache:
    """The host cache and the S3 mirror for a list of repositories."""

    def __init__(self, config: WeightsConfig, s3_client: Any, log: Callable[..., None]) -> None:
        self.config = config
        self.s3 = s3_client
        self.log = log

    # -- paths ------------------------------------------------------------------------------

    def marker(self, need: RepoNeed) -> Path:
        name = need.folder + "@" + need.revision.replace("/", "--") + ".json"
        return self.config.weights_dir / ".complete" / name

    def snapshot_dir(self, need: RepoNeed, commit: str) -> Path:
        return self.config.hub_cache / need.folder / "snapshots" / commit

    def _mirror_key(self, need: RepoNeed, rest: str) -> tuple[str, str]:
        mirror = self.config.mirror
        assert mirror is not None
        bucket, prefix = mirror
        return bucket, f"{prefix}{need.repo_id}/{need.revision}/{rest}"

    # -- plan -------------------------------------------------------------------------------

    def local_manifest(self, need: RepoNeed) -> dict[str, Any] | None:
        """The marker's manifest when every file it lists is on disk with its size, else None."""
        try:
            manifest = json.loads(self.marker(need).read_text())
        except (OSError, ValueError):
            return None
        snapshot = self.snapshot_dir(need, manifest.get("commit", ""))
        for entry in manifest.get("files", []):
            try:
                if (snapshot / entry["path"]).stat().st_size != entry["size"]:
                    return None
            except OSError:
                return None
        return manifest

    def mirror_manifest(self, need: RepoNeed) -> dict[str, Any] | None:
        if self.config.mirror is None:
            return None
        bucket, key = self._mirror_key(need, "manifest.json")
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code", "")) in _MISSING:
                return None
            raise
        manifest = json.loads(body)
        return manifest if manifest.get("format") == MIRROR_FORMAT else None

    def plan(self, needs: Iterable[RepoNeed]) -> WeightsPlan:
        plan = WeightsPlan()
        for need in needs:
            manifest = self.local_manifest(need)
            if manifest is not None:
                plan.sources[need] = "local"
            else:
                manifest = self.mirror_manifest(need)
                plan.sources[need] = "s3" if manifest is not None else "hub"
            if manifest is not None:
                plan.manifests[need] = manifest
        self.log("weights_plan", sources={n.label: s for n, s in plan.sources.items()})
        return plan

    # -- fetch ------------------------------------------------------------------------------

    def fetch(
        self, plan: WeightsPlan, hub_download: Callable[[RepoNeed, Path], tuple[str, Path]]
    ) -> list[Fetched]:
        """Bring every planned repository into the host cache; return what came from where.

        ``hub_download(need, hub_cache)`` downloads one repository from the Hub and returns its
        commit and snapshot directory.
        """
        results = []
        for need, source in plan.sources.items():
            start = time.perf_counter()
            if source == "local":
                manifest = plan.manifests[need]
                result = Fetched(need, "local", manifest["commit"], len(manifest["files"]),
                                 _total(manifest), 0.0)  # fmt: skip
            else:
                result = self._fetch_locked(need, source, plan.manifests.get(need), hub_download)
            result.seconds = round(time.perf_counter() - start, 3)
            self.log(
                "weights",
                repo=need.repo_id,
                revision=need.revision,
                source=result.source,
                commit=result.commit,
                files=result.files,
                bytes=result.bytes,
                seconds=result.seconds,
                mb_per_s=round(result.bytes / 1e6 / result.seconds, 1) if result.seconds else None,
                mirrored=result.mirrored,
            )
            results.append(result)
        return results

    def _fetch_locked(
        self,
        need: RepoNeed,
        source: str,
        manifest: dict[str, Any] | None,
        hub_download: Callable[[RepoNeed, Path], tuple[str, Path]],
    ) -> Fetched:
        from filelock import FileLock

        lock_path = self.config.weights_dir / ".locks" / (need.folder + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        waited = time.perf_counter()
        with FileLock(str(lock_path), timeout=_LOCK_TIMEOUT_S):
            waited_s = round(time.perf_counter() - waited, 3)
            # Another job on this host may have finished the copy while this one waited.
            done = self.local_manifest(need)
            if done is not None:
                self.log("weights_lock", repo=need.repo_id, waited_s=waited_s, found="local")
                return Fetched(need, "local", done["commit"], len(done["files"]), _total(done), 0.0)
            if source == "s3" and manifest is not None:
                self._restore_from_mirror(need, manifest)
                self._write_marker(need, manifest)
                return Fetched(need, "s3", manifest["commit"], len(manifest["files"]), _total(manifest), 0.0)
            commit, snapshot = hub_download(need, self.config.hub_cache)
            manifest = _manifest_of(need, commit, snapshot)
            mirrored = self._upload_to_mirror(need, snapshot, manifest)
            self._write_marker(need, manifest)
            return Fetched(need, "hub", commit, len(manifest["files"]), _total(manifest), 0.0, mirrored)

    def _restore_from_mirror(self, need: RepoNeed, manifest: dict[str, Any]) -> None:
        from boto3.s3.transfer import TransferConfig

        snapshot = self.snapshot_dir(need, manifest["commit"])
        transfer = TransferConfig(
            multipart_threshold=64 * 2**20,
            multipart_chunksize=64 * 2**20,
            max_concurrency=S3_PART_CONCURRENCY,
        )

        def get(entry: dict[str, Any]) -> None:
            target = snapshot / entry["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_file() and target.stat().st_size == entry["size"]:
                return  # left by an interrupted earlier copy
            bucket, key = self._mirror_key(need, "files/" + entry["path"])
            tmp = target.with_name(target.name + ".partial")
            self.s3.download_file(bucket, key, str(tmp), Config=transfer)
            os.replace(tmp, target)

        with ThreadPoolExecutor(max_workers=S3_FILE_CONCURRENCY) as pool:
            list(pool.map(get, manifest["files"]))
        if manifest["commit"] != need.revision:
            ref = self.config.hub_cache / need.folder / "refs" / need.revision
            ref.parent.mkdir(parents=True, exist_ok=True)
            ref.write_text(manifest["commit"])

    def _upload_to_mirror(self, need: RepoNeed, snapshot: Path, manifest: dict[str, Any]) -> bool:
        """Copy a Hub snapshot to the mirror, manifest last; a failure only costs later hosts time."""
        if self.config.mirror is None:
            return False
        from boto3.s3.transfer import TransferConfig

        transfer = TransferConfig(multipart_chunksize=64 * 2**20, max_concurrency=S3_PART_CONCURRENCY)

        def put(entry: dict[str, Any]) -> None:
            bucket, key = self._mirror_key(need, "files/" + entry["path"])
            # resolve(): the snapshot entry is a link into blobs/; upload what it points at.
            self.s3.upload_file(str((snapshot / entry["path"]).resolve()), bucket, key, Config=transfer)

        try:
            with ThreadPoolExecutor(max_workers=S3_FILE_CONCURRENCY) as pool:
                list(pool.map(put, manifest["files"]))
            bucket, key = self._mirror_key(need, "manifest.json")
            body = json.dumps(manifest, indent=1).encode()
            self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        except Exception as err:  # the job itself has its weights: go on
            self.log("weights_mirror_failed", level="warning", repo=need.repo_id, message=str(err))
            return False
        return True

    def _write_marker(self, need: RepoNeed, manifest: dict[str, Any]) -> None:
        marker = self.marker(need)
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(json.dumps(manifest))
        os.replace(tmp, marker)


def _manifest_of(need: RepoNeed, commit: str, snapshot: Path) -> dict[str, Any]:
    files = []
    for path in sorted(snapshot.rglob("*")):
        if path.is_file():  # follows the snapshot's links into blobs/
            files.append({"path": path.relative_to(snapshot).as_posix(), "size": path.stat().st_size})
    return {
        "format": MIRROR_FORMAT,
        "repo_id": need.repo_id,
        "revision": need.revision,
        "commit": commit,
        "files": files,
    }


def _total(manifest: dict[str, Any]) -> int:
    return sum(int(f["size"]) for f in manifest.get("files", []))
