"""Built-in plugins: each module implements vecrender hooks, exactly as a third-party plugin."""
