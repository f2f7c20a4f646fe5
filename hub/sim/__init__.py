"""Simulated peers for the demo and the tests: a local broker and an alarm centre."""
