"""Running tradekit: the paper-session runner, the papermill daily chain, manifests, the scheduler."""
