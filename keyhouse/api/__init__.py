"""The wire adapter: vendor Actions in, vendor JSON envelopes out. No business rules here."""
