"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it is sent, for the tests of
e-mail: Django's SMTP backend talks to it over a real connection, as it would to a mail relay."""

from __future__ import annotations

import email
import socket
from email.message import Message

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[Message] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> Mailbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[Message]:
        return [message for message in self.messages if message["To"] == address]


def body(message: Message) -> str:
    return message.get_payload(decode=True).decode()
