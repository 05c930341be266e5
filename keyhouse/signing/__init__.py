"""Request signature schemes: ACS3-HMAC-SHA256 (V3) and HMAC-SHA1 (RPC)."""
