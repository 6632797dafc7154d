"""The service layer: use cases over the event store, speaking the domain's words."""
