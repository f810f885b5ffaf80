"""Run homepbx from a checkout: `python cli.py ...` (same as the installed `homepbx` command)."""

from homepbx.cli import main

if __name__ == "__main__":
    main()
