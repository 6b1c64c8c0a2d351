"""Generate the synthetic demo of 翠湖社区 (Cuihu community), 凤城街道, 清城区, 清远市, Guangdong.

Everything here is invented except the district boundary of 清城区 (see data/demo/README.md for its
origin). The invention follows the community's public figures: 7 garden estates (花园小区) and 235
old standalone buildings (老旧单体楼), about 13,700 residents, 2 party branches with 4 party groups
organised by grid, 43 building heads (楼栋长), 14 finished renovation points, 7 demolished illegal
structures, and a party-and-residents activity centre with a micro fire station in 雅悦花园.

The output is deterministic: one seeded generator consumed in a fixed order, a fixed base time, and
GeoJSON written in a fixed layout, so two runs produce byte-identical files. The modules follow
what they make: ``community`` (outline and grids), ``buildings`` (estates and buildings),
``people`` (responders), ``incidents``, ``checks`` and ``writing``; ``cli`` puts them together.

    python -m data.generate_demo
"""
