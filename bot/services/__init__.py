"""Domain services: plain async functions taking a session, testable without Telegram."""
