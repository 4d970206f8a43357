"""Tasks: specs, loaders, spoken rendering and answer parsing."""
