"""Serving: the recommender over a Faiss index, its filters, explanations, brands, tables, and the HTTP service."""
