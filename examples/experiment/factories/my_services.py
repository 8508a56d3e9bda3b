"""The guide's ``my_services`` module (seed 000, custom callback factory): it imports a
``NotificationService`` from it without showing one. This stand-in keeps what it is sent,
and says so on stdout, where a real one would post to a chat or e-mail."""

from __future__ import annotations

__all__ = ["NotificationService"]


class NotificationService:
    """Collects messages; ``sent`` lists them in order."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def notify(self, message: str) -> None:
        """Sends one message (here: keeps it and prints it)."""
        self.sent.append(message)
        print(f"notification: {message}")
