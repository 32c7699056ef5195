"""Speed and memory benchmarks (`make bench`): goals live here, not in timed tests."""
