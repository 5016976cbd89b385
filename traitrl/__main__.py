from traitrl.cli import main

main()
