"""cosmosctl: the client for NVIDIA Cosmos 3 deployed with cosmos3-aws (reasoner, generator, bench, cost)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cosmos3-aws")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
