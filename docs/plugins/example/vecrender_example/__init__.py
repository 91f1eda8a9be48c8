"""vecrender-example: a complete third-party vecrender plugin (an ink-budget loss and a method)."""
