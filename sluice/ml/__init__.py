"""The moderation model from the main environment: `sluice ml` hands over to the ML environment (ml/)."""
