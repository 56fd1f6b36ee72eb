"""Check kinds and the sources they observe: what demon measures and how it judges it."""
