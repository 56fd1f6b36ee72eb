"""Learned baselines: a series' expected range per seasonal slot, learned from its own history (model.py),
in pure standard-library Python so the daemon stays light."""
