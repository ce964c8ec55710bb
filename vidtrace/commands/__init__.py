"""The command line. Every verb is a thin layer over a library call."""
