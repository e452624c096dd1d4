"""Drop-ins for web frameworks: a FastAPI router (``fastapi``) and a Django app (``django``).

Inbound web, like ``worker.web``: each is a thin layer over the producer API (thread or
asyncio), so the gate, the captcha and the limits cannot be wired differently.
"""
