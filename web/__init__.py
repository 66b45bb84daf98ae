"""The web face: a QuartTrio app serving the /api/v1 contract over an Exchange."""
