"""The handler core: how an update flows from Telegram through the database to a reply.

- `context`: what the core knows about the update being handled (a ContextVar).
- `barrier`: the Bot API request middleware that commits the update's transaction
  before any call to Telegram, and recovers a reply that Telegram refused.
- `inbox`: every received update is stored before it is acknowledged; replayed at start.
- `polling`: long polling through the inbox, with a graceful stop.
- `callbacks`: callback queries are answered once, after the handler succeeded.
- `filters`: role checks in the database that inject the acting scope.
- `forms`: what a failed handler does to the form (handler flags read by the error path).

See docs/design-core.md.
"""
