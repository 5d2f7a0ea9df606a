"""``python -m cosmos_generator``: the Batch job entrypoint."""

from .main import main

main()
