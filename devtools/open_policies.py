"""The safety policies of load tests and benchmarks (a POLICIES_FILE): generous platform caps, no cooldown or burst.

They count calls and measure speed, not pacing. A plain module (no Django import), so a benchmark can write the
file before it sets Django up.
"""

OPEN_POLICIES = """
safety:
  global: {max_actions_per_hour: 1000000, max_actions_per_day: 1000000}
  per_workspace: {max_actions_per_hour: 1000000, max_actions_per_day: 1000000}
  per_account: {max_actions_per_hour: 100000, max_actions_per_day: 100000}
  burst: {per_account: {max_actions: 0, window_seconds: 0}}
  cooldowns: {comment_reply: 0, private_reply: 0, dm: 0}
  hourly_limits: {comment_replies: 100000}
  daily_limits: {comment_replies: 100000}
"""
