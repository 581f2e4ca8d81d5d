"""`python -m stackyard.smoke`: see stackyard.smoke.run."""

import sys

from stackyard.smoke.run import main

sys.exit(main(sys.argv[1:]))
