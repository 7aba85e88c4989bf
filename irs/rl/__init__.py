"""RL machinery: sampling, log-probs, PPO and RLOO updates, experts."""
