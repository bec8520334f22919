"""Allow `python -m leakwatch`."""

from leakwatch.cli import main

main()
