"""Events: CloudEvents in, stored, routed to services; correlation ids; the event catalog."""
