"""`python -m convdiv` = the `convdiv` command."""

from convdiv.cli import main

main()
