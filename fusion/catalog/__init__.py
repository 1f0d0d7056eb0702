"""Catalogue stage: sources from data_catalog.yaml, STAC search, dedupe, provenance."""
