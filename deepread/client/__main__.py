from deepread.client.cli import main

main()
