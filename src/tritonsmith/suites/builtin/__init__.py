"""The built-in task suite: one task file per kernel (see docs/tasks.md)."""
