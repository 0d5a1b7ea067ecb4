"""What the agent knows: hardware profiles, the Triton guide, example retrieval."""
