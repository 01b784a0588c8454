"""`python -m gateway`: what `make run` starts."""

import sys

from gateway.selfcheck import run

sys.exit(run())
