"""The exchange engine: money, actors, the store and the supervision root."""
