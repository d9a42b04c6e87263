"""Customers: what the platform knows about each customer (RFM scores, segments, ...)."""
