#!/usr/bin/env bash
# Regenerate requirements.lock: every Python package the job image installs, transitive ones too,
# pinned with hashes and resolved for the image's Python (3.12) and platform (x86_64 manylinux).
# torch, torchvision, triton and the CUDA wheels (nvidia-*, cuda-*) come from the base image
# (Dockerfile BASE_IMAGE): they are resolved at the base image's torch version, so the rest fits
# it, and left out of the lock so the build never replaces them. setuptools too (only torch needs
# it): on an Ubuntu-based image it may be the distribution's package, which pip cannot uninstall.
# Needs uv (https://docs.astral.sh/uv/): `pip install uv`.
set -euo pipefail
cd "$(dirname "$0")"
TORCH_VERSION=2.11.0   # = torch in BASE_IMAGE (pytorch/pytorch:2.11.0-cuda13.0-cudnn9-devel)
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "torch==${TORCH_VERSION}" > "$constraints"
base_image_packages=(
  torch torchvision triton cuda-toolkit cuda-bindings cuda-pathfinder setuptools
  nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13
  nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
  nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx
)
no_emit=()
for p in "${base_image_packages[@]}"; do no_emit+=(--no-emit-package "$p"); done
uv pip compile requirements.txt \
  --constraint "$constraints" \
  --generate-hashes \
  --python-version 3.12 \
  --python-platform x86_64-manylinux_2_28 \
  --no-header --annotation-style line --only-binary :all: \
  "${no_emit[@]}" \
  --output-file requirements.lock
