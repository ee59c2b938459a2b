#!/usr/bin/env python
import os
import sys


def main() -> None:
    """Run a Django management command with DJANGO_SETTINGS_MODULE defaulting to deepread.settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepread.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
