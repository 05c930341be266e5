"""Keyhouse: a self-hosted AccessKey service speaking the Alibaba Cloud RAM/IMS/STS protocol."""

__version__ = "0.1.0"
