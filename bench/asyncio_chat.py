"""asyncio_chat.py: the asyncio peer of project 029's chat server, for bench/chat_bench.sh.

The same line protocol as `029_chat_server --serve`'s TCP port (nicknames guestN, the lobby,
/nick /join /leave /rooms /who /msg /help /quit, "[#room] nick: text", "[pm] nick: text",
"* ..." notices, "error: ..." and "bye: ..."), the same limits (line length, connections, idle
timeout) and the same policy for a client that cannot keep up: dropped, with its room told why.
Written the idiomatic asyncio way, the fastest one: asyncio.start_server, reader.readline() with
a limit, writer.write() for the fan-out (never `await drain()` there: one slow reader would hold
up the room), the transport's own buffer as the outbox, bounded by checking
get_write_buffer_size() (asyncio has no line count: MAX_OUTBOX lines of 100 bytes), and one
watchdog task per client for the idle timeout (cheaper than asyncio.timeout() around each read).

usage: /usr/bin/python3 asyncio_chat.py PORT [--max-line N] [--max-outbox N] [--max-clients N]
                                        [--idle-timeout S]
Listens on 127.0.0.1 only; PORT 0 picks a free port. Prints "chat: lines on 127.0.0.1:N" once
ready (the first words `029_chat_server --serve` prints). SIGTERM or SIGINT end it.
"""
import argparse
import asyncio
import re
import signal
import time

NAME = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
HELP = [
    "* commands:",
    "*   /nick NAME       change your nickname (letters, digits, _ and -, up to 20)",
    "*   /join ROOM       leave your room and join ROOM (created if new)",
    "*   /leave           leave your room",
    "*   /rooms           list the rooms and how many are in each",
    "*   /who             list who is in your room",
    "*   /msg NICK TEXT   a private message to NICK",
    "*   /quit            leave the chat",
    "*   anything else is said in your room",
]


class Client:
    def __init__(self, number, writer):
        self.id = number
        self.nick = f"guest{number}"
        self.room = ""
        self.writer = writer
        self.gone = ""
        self.last_line = time.monotonic()


class Chat:
    def __init__(self, args):
        self.args = args
        self.rooms = {}  # room -> {nick: client}
        self.nicks = {}
        self.clients = 0
        self.next_id = 1
        self.max_buffer = args.max_outbox * 100

    def deliver(self, to, line):
        if to.gone:
            return
        transport = to.writer.transport
        if transport.get_write_buffer_size() > self.max_buffer:
            to.gone = f"too slow: {self.args.max_outbox} lines waiting"
            transport.abort()  # drops what it has not read; its handler ends
            return
        to.writer.write(line.encode() + b"\n")

    def tell_room(self, room, line, except_client):
        for member in list(self.rooms.get(room, {}).values()):
            if member is not except_client:
                self.deliver(member, line)

    def join(self, client, room):
        self.tell_room(room, f"* {client.nick} joined #{room}", client)
        members = self.rooms.setdefault(room, {})
        members[client.nick] = client
        client.room = room
        self.deliver(client, f"* you are in #{room} ({len(members)} here: {', '.join(sorted(members))})")

    def leave(self, client, why):
        if not client.room:
            return
        members = self.rooms[client.room]
        del members[client.nick]
        if not members:
            del self.rooms[client.room]
        else:
            because = f" ({why})" if why else ""
            self.tell_room(client.room, f"* {client.nick} left #{client.room}{because}", client)
        client.room = ""

    def handle(self, client, line):  # False: /quit
        if not line:
            return True
        if not line.startswith("/"):
            if not client.room:
                self.deliver(client, "error: you are in no room; /join ROOM first")
            else:
                self.tell_room(client.room, f"[#{client.room}] {client.nick}: {line}", client)
            return True
        command, _, argument = line.partition(" ")
        argument = argument.strip(" ")
        if command == "/help":
            for text in HELP:
                self.deliver(client, text)
        elif command == "/nick":
            if not NAME.match(argument):
                self.deliver(client, "error: a nickname is 1 to 20 letters, digits, _ or -")
            elif argument in self.nicks:
                self.deliver(client, f"error: {argument} is taken")
            else:
                old = client.nick
                del self.nicks[old]
                self.nicks[argument] = client
                client.nick = argument
                if client.room:
                    members = self.rooms[client.room]
                    del members[old]
                    members[argument] = client
                    self.tell_room(client.room, f"* {old} is now {argument}", client)
                self.deliver(client, f"* you are now {argument}")
        elif command == "/join":
            room = argument[1:] if argument.startswith("#") else argument
            if not NAME.match(room):
                self.deliver(client, "error: a room name is 1 to 20 letters, digits, _ or -")
            elif room == client.room:
                self.deliver(client, f"* you are already in #{room}")
            else:
                self.leave(client, "")
                self.join(client, room)
        elif command == "/leave":
            if not client.room:
                self.deliver(client, "error: you are in no room")
            else:
                room = client.room
                self.leave(client, "")
                self.deliver(client, f"* you left #{room}; /join ROOM to talk again")
        elif command == "/rooms":
            listed = ", ".join(f"#{room} ({len(m)})" for room, m in sorted(self.rooms.items()))
            self.deliver(client, "* rooms: " + listed if listed else "* no rooms; /join ROOM opens one")
        elif command == "/who":
            if not client.room:
                self.deliver(client, "error: you are in no room")
            else:
                self.deliver(client, f"* in #{client.room}: {', '.join(sorted(self.rooms[client.room]))}")
        elif command == "/msg":
            to, _, text = argument.partition(" ")
            if not to or not text:
                self.deliver(client, "error: /msg NICK TEXT")
            elif to not in self.nicks:
                self.deliver(client, f"error: nobody is called {to}")
            else:
                self.deliver(self.nicks[to], f"[pm] {client.nick}: {text}")
                self.deliver(client, f"[pm to {to}] {text}")
        elif command == "/quit":
            return False
        else:
            self.deliver(client, f"error: unknown command {command}; /help lists them")
        return True

    async def watchdog(self, client, task):
        idle = self.args.idle_timeout
        while True:
            await asyncio.sleep(max(0.0, client.last_line + idle - time.monotonic()))
            if time.monotonic() - client.last_line >= idle:
                client.gone = f"idle for {idle:.1f}s"
                self.deliver_anyway(client, f"bye: {client.gone}")
                task.cancel()
                return

    def deliver_anyway(self, client, line):
        client.writer.write(line.encode() + b"\n")

    async def session(self, reader, writer):
        if self.clients >= self.args.max_clients:
            writer.write(f"error: server full ({self.args.max_clients} connections); try again later\n".encode())
            writer.close()
            return
        self.clients += 1
        client = Client(self.next_id, writer)
        self.next_id += 1
        while client.nick in self.nicks:
            client.nick += "_"
        self.nicks[client.nick] = client
        self.deliver(client, f"* welcome, {client.nick}! /nick NAME picks a name, /help lists the commands")
        self.join(client, "lobby")
        watchdog = asyncio.create_task(self.watchdog(client, asyncio.current_task()))
        quit = False
        try:
            while not client.gone:
                try:
                    raw = await reader.readline()
                except ValueError:  # asyncio's LimitOverrunError, as readline() raises it
                    self.deliver(client, f"error: line too long (max {self.args.max_line} bytes), not sent")
                    continue
                if not raw:
                    break
                line = raw.decode(errors="replace").rstrip("\n").rstrip("\r")
                if len(line) > self.args.max_line:
                    self.deliver(client, f"error: line too long (max {self.args.max_line} bytes), not sent")
                    continue
                client.last_line = time.monotonic()
                if not self.handle(client, line):
                    quit = True
                    self.deliver(client, "bye")
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        watchdog.cancel()
        why = "quit" if quit else (client.gone or "disconnected")
        self.leave(client, why)
        if self.nicks.get(client.nick) is client:
            del self.nicks[client.nick]
        self.clients -= 1
        try:
            writer.close()
            await writer.wait_closed()
        except (ConnectionError, asyncio.CancelledError):
            pass


async def main(args):
    chat = Chat(args)
    # limit: readline()'s buffer; a longer line raises ValueError and is skipped above.
    server = await asyncio.start_server(chat.session, "127.0.0.1", args.port,
                                        limit=max(args.max_line * 2, 65536))
    print(f"chat: lines on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the asyncio peer of 029_chat_server")
    parser.add_argument("port", type=int)
    parser.add_argument("--max-line", type=int, default=1000)
    parser.add_argument("--max-outbox", type=int, default=1000)
    parser.add_argument("--max-clients", type=int, default=2000)
    parser.add_argument("--idle-timeout", type=float, default=600)
    asyncio.run(main(parser.parse_args()))
