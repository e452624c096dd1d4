"""The producer API that web apps call, and the live event feed."""
