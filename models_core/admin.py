"""Admin for corpora, training runs and decodings (researchers queue and watch runs here)."""
