"""`fleet bench NAME --json`: benchmarks printing one JSON object, baselines measured alongside."""
