"""`python -m chatfn create ...`: the command-line client (chatfn/tools/cli.py)."""

import sys

from chatfn.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
