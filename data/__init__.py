"""The demo community (翠湖社区) and the deterministic script that generates it."""
