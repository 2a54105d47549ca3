"""Lambdalytics: the shared kernel (Hit schema, records, resources, AWS clients, settings)."""
