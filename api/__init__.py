"""wangge HTTP API and command line: thin layers over ``geo``."""
