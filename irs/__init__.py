"""IterativeRS: iterative reward soups for multi-objective fine-tuning of generative models."""

__version__ = "0.1.0"
