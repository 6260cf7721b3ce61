"""``python -m studio.cli ...``: the ``studio`` command (same as ``python -m studio``)."""

from studio.cli import main

if __name__ == "__main__":
    main()
