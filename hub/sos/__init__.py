"""The alarm lifecycle, local feedback and escalation."""
