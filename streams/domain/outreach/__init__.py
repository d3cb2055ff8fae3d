"""Proactive outreach: the actions the team publishes, and the I/O that finds and sends them."""
