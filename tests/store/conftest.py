"""Store tier: the Store and its Lua scripts against a real Redis, no broker, no gateway."""
