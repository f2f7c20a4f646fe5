"""Care checks: pure state machines fed by Readings and a clock, emitting event drafts.

Entry point: `hub.care.engine.CareEngine` (feed / tick / to_dict / from_dict).
"""
