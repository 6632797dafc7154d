"""The domain of Red Whistle: aggregates and their events, free of I/O."""
