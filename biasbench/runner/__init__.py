"""Plan, execute, log and resume runs (item × voice × modality × rotation × repeat)."""
