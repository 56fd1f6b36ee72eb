"""`python -m monitor` is `demon`."""

from monitor.cli import main

main()
