"""Many tasks at once: the bench driver, the results store, resume."""
