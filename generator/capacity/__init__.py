"""Capacity: SGLang's memory and KV-pool arithmetic, prices, cold start and the decode floor."""
