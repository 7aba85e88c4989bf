"""IterativeRS (Algorithm 1) and its presets MORLHF and Rewarded Soups; merging and λ strategies."""
