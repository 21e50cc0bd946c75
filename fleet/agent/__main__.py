"""`python3 -m fleet.agent`: what the agent image runs."""

import sys

from fleet.agent.main import main

sys.exit(main())
