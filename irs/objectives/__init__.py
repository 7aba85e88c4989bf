"""Objectives: a raw scorer plus a goal and normalization to [0, 1] (REINVENT-style components)."""

from irs.objectives.base import Objective, aggregate, goal_transform

__all__ = ["Objective", "aggregate", "goal_transform"]
