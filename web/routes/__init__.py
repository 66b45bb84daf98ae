"""Route blueprints of the /api/v1 contract."""
