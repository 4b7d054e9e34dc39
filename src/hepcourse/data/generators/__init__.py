"""Offline generators: each module's ``generate(n, seed, **options)`` makes ``n`` rows (jets,
events or showers) in the public dataset's schema, deterministically, in one process."""
