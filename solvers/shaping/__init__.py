"""Model-free opponent shaping: M-FOS and Shaper (issue 4)."""
