"""Renderers: a Notification as each channel shows it, always within the channel's limits, never failing."""
