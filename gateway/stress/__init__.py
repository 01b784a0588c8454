"""The stress test: a market scenario against a population of margin accounts, and its report."""
