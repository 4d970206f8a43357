"""An LLM judge for long-form answers: a pinned judge model over any OpenAI-compatible endpoint,
a versioned rubric, pointwise and position-swapped pairwise scores, and their reliability."""
