"""The long-term refresh service: read histories, train, gate, publish."""
