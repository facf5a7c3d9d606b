import sys

from nst.cli.main import main

sys.exit(main())
