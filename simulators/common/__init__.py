"""What the simulators share: error bases, fault plumbing, the control-API server and CLI."""
