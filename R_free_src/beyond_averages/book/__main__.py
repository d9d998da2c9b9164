"""``python -m beyond_averages.book render|check``."""

import sys

from beyond_averages.book.render import main

sys.exit(main())
