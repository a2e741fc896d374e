"""``python -m callqa`` runs the command line."""

from callqa.cli import main

if __name__ == "__main__":
    main()
