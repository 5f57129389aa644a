#!/usr/bin/env python3
"""The exec handler's chat (see chat.php) in Python 3, standard library only.

    [worker.options]
    command = ["python3", "examples/exec/chat.py"]

Events arrive as JSON lines on stdin, commands go out as JSON lines on
stdout; stderr lands in the daemon's log.
"""
import json
import os
import sys


def command(**cmd):
    sys.stdout.write(json.dumps(cmd, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main():
    clients = {}  # conn id -> its connect event
    for line in sys.stdin:
        try:
            e = json.loads(line)
        except ValueError:
            print("not JSON:", line.rstrip(), file=sys.stderr)
            continue
        conn = e.get("conn", "")
        event = e.get("event")
        if event == "connect":
            clients[conn] = e
            command(cmd="send", conn=conn, data="hello " + conn)
        elif event == "close":
            clients.pop(conn, None)
        elif event == "message":
            if "data_b64" in e:
                command(cmd="send", conn=conn, data_b64=e["data_b64"])
                continue
            data = e["data"]
            parts = data.split(" ", 2)
            if parts[0] == "login" and len(parts) > 1:
                command(cmd="bind_uid", conn=conn, uid=parts[1])
                command(cmd="send", conn=conn, data="you are " + parts[1])
            elif parts[0] == "to" and len(parts) > 2:
                command(cmd="send_to_uid", uid=parts[1], data=parts[2])
            elif parts[0] == "join" and len(parts) > 1:
                command(cmd="join_group", conn=conn, group=parts[1])
                command(cmd="send", conn=conn, data="joined " + parts[1])
            elif parts[0] == "say" and len(parts) > 2:
                command(cmd="send_to_group", group=parts[1], data=parts[2])
            elif parts[0] == "all":
                command(cmd="broadcast", data=data[4:])
            elif data == "info":
                c = clients.get(conn, {})
                info = {"pid": os.getpid(), "path": c.get("path", ""), "query": c.get("query", ""),
                        "headers": c.get("headers", {})}
                command(cmd="send", conn=conn, data=json.dumps(info, ensure_ascii=False))
            else:
                command(cmd="send", conn=conn, data=data)


if __name__ == "__main__":
    main()
