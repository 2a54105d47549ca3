"""What `pulumi up` runs (Pulumi.yaml: ``main: infra/``): the repository root on the path, so
the program imports the packages it deploys, then :func:`infra.program.main`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.program import main

main()
