"""What the user sees besides texts: callback data of buttons, keyboards and card
markup. Handlers, services and the outbox sender use this package; it never imports
`handlers` or services (services hand it plain values)."""
