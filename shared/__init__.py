"""The project's common package: settings, messages, outbox, tokens, HTTP conventions, time."""
