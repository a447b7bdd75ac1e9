from profwork.cli import main

main()
