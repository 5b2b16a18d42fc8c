"""`python -m ipfeed`."""

from .cli import main

main()
