"""Built-in adapters; each registers through the `isobridge` entry points like any plugin."""
