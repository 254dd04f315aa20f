"""``python -m ramt.report OUTPUT_DIR [--published] [--out DIR] [--shots K ...]``."""

import sys

from ramt.report import main

if __name__ == "__main__":
    sys.exit(main())
