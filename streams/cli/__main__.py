"""`python -m streams.cli ...`, the same as the `cxpulse` command."""
from streams.cli.main import main

main()
