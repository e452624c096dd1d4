"""The SMS-provider seam: what a provider does (``SmsProvider``), its results and errors."""
