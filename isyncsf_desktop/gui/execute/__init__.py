"""The Execute tab."""
