"""The entry script of the one-file build: the ``exchange`` console script itself."""

import sys

from web.cli import main

if __name__ == "__main__":
    sys.exit(main())
