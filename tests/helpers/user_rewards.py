"""User rewards in TRL's signature, named `tests.helpers.user_rewards:NAME` by test scenario rows."""

from __future__ import annotations


def length_reward(prompts, completions, **kwargs):
    """1 for a reply of at most 20 characters, else 0."""
    return [1.0 if len(c if isinstance(c, str) else c[-1]["content"]) <= 20 else 0.0 for c in completions]


def always_none(prompts, completions, **kwargs):
    """A reward that can never score anything (a judge that returns empty replies, say)."""
    return [None] * len(completions)


def says_yes(prompts, completions, **kwargs):
    """1 when the reply contains the letter 'a' (most replies of a random model do, some don't)."""
    return [1.0 if "a" in (c if isinstance(c, str) else c[-1]["content"]) else 0.0 for c in completions]


def no_kwargs(prompts, completions):
    return [0.0] * len(completions)
