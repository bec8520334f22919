"""Allow `python -m leakwatch`."""

from leakwatch.cli import main

if __name__ == "__main__":  # worker processes import this module too: run nothing there
    main()
