"""Photos and other evidence: the content-addressed store (store.py), reading and re-encoding
images (images.py) and the photos of incidents (photos.py). No HTTP here."""
