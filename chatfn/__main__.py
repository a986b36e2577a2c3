"""`python -m chatfn create ...`: the command-line client (chatfn/cli.py)."""

import sys

from chatfn.cli import main

if __name__ == "__main__":
    sys.exit(main())
