"""Side effects after commit: the outbox, its delivery jobs, and periodic sweeps."""
