from peek.cli import main

main()
