"""Generate the synthetic demo community (翠湖社区) into data/demo; the work is done in data.demo_gen.

python -m data.generate_demo [--out FOLDER]
"""

from data.demo_gen.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
