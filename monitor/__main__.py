"""`python -m monitor` is `demon`."""

from monitor.app.cli import main

main()
