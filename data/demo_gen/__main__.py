"""``python -m data.demo_gen``: the same as ``python -m data.generate_demo``."""

from .cli import main

main()
