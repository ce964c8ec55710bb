"""Launcher: `python cli.py ...` is the same as the installed `vidtrace` command."""

from vidtrace.commands.main import main

if __name__ == "__main__":
    main()
