"""A seeded synthetic shop: products with real-looking metadata, planted co-purchase and co-view edges, an event log."""
