"""demon's monitor: its core (what every layer speaks), its state store, and the app on top."""
