"""`python -m gateway` (what `make run` starts): the demo. `python -m gateway selfcheck` runs the engine self-check."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "selfcheck":
    from gateway.selfcheck import run

    sys.exit(run())

from gateway.demo import main

main()
