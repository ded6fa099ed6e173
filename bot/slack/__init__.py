"""Slack: Block Kit builders and the Web API client."""
