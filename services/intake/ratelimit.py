"""intake's rate limits per token (API.md: 429 with Retry-After): the limiters of
``shared.ratelimit``, which the other services use per address for expensive renders."""

from shared.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, retry_after

__all__ = ["MemoryRateLimiter", "RateLimiter", "RedisRateLimiter", "retry_after"]
