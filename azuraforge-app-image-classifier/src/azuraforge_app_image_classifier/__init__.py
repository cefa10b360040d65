"""AzuraForge app: a small CNN image classifier."""
