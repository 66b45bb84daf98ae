"""HTML pages: server-rendered shells whose scripts call the JSON API and its websockets."""
