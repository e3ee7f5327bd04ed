"""The Slack adapter: Bolt wiring (app.py), payloads in (inbound.py), Block Kit out."""
