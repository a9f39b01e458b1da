"""``python -m esrgan.bench JOB.json RESULT.json``: one benchmark job in a fresh process (``esrgan bench`` runs it)."""

import sys

from esrgan.bench.jobs import child_main

sys.exit(child_main(sys.argv[1:]))
