"""folium map builders. They read from ``geo``, never SQL."""
