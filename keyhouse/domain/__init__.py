"""The domain: accounts, users, AccessKeys and the recycle-bin rules. No HTTP, no SQL."""
