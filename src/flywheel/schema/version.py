"""The warehouse schema version this code writes (bumped with every numbered migration).

Its own module so light readers (`warehouse.glance`) know it without loading the catalog's Ibis types.
"""

SCHEMA_VERSION = 7
