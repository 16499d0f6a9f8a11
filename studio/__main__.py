"""python -m studio <command>: the command line lives in studio/cli/."""
import sys

from studio.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
