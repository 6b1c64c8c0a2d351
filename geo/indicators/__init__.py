"""Indicators of the work (GB/T 30428.4 style) from the append-only timeline: see
:mod:`geo.indicators.definitions` for the formulas, :mod:`geo.indicators.report` for the answers."""
