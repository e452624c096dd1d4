"""Development tools: the sandbox gateway, the local stack, the demo.

No product module imports them (an import-linter contract in pyproject.toml).
"""
