"""Node input features: product text -> vectors (TF-IDF, MiniLM, hashing), categorical ids, numeric columns; a cache of text vectors."""
