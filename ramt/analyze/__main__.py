import sys

from ramt.analyze import main

sys.exit(main())
