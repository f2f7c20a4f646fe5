"""Voice: offline help-phrase spotting, confirmation, and spoken prompts (issue 8)."""
