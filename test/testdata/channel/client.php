<?php
// The wire protocol of Workerman's Channel client (workerman/channel),
// written from its description: frames of pack('N', 4 + length) followed
// by serialize() of an array. These helpers are what Channel\Client does
// over a blocking socket, as outside Workerman (php-fpm).

function ch_connect(string $addr, string $token = '')
{
    $conn = stream_socket_client('tcp://' . $addr, $code, $message, 5);
    if (!$conn) {
        fwrite(STDERR, "connect $addr: $message\n");
        exit(2);
    }
    stream_set_timeout($conn, 10);
    if ($token !== '') {
        // workermand's token option: one frame before the protocol.
        ch_send($conn, ['type' => 'auth', 'token' => $token]);
    }
    return $conn;
}

function ch_frame(string $body): string
{
    return pack('N', 4 + strlen($body)) . $body;
}

function ch_send($conn, array $msg): void
{
    ch_write($conn, ch_frame(serialize($msg)));
}

function ch_write($conn, string $buffer): void
{
    while ($buffer !== '') {
        $n = fwrite($conn, $buffer);
        if ($n === false || $n === 0) {
            fwrite(STDERR, "write failed\n");
            exit(2);
        }
        $buffer = substr($buffer, $n);
    }
}

function ch_read_exactly($conn, int $len): string
{
    $buf = '';
    while (strlen($buf) < $len) {
        $chunk = fread($conn, $len - strlen($buf));
        if ($chunk === false || $chunk === '') {
            $meta = stream_get_meta_data($conn);
            fwrite(STDERR, $meta['timed_out'] ? "read timed out\n" : "connection closed\n");
            exit(3);
        }
        $buf .= $chunk;
    }
    return $buf;
}

// ch_read returns the next message of the server, unserialized.
function ch_read($conn)
{
    $head = unpack('N', ch_read_exactly($conn, 4));
    $body = ch_read_exactly($conn, $head[1] - 4);
    return unserialize($body);
}
