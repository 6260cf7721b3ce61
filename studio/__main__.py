"""``python -m studio ...``: the ``studio`` command, for hosts where the script is not on PATH."""

from studio.cli import main

if __name__ == "__main__":
    main()
