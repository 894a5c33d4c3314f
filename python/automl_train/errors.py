"""User-facing training errors.

A TrainError's message is short and safe to show to the job's owner (it ends
up in the job's error_message); anything else is an internal failure.
"""


class TrainError(Exception):
    """A job cannot be trained as specified (bad table, column, data)."""
