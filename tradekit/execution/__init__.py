"""Order management: the OMS (one submit path), the account and margin, costs, replay."""
